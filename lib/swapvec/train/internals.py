"""The parts of gensim that are not its public API and that swapvec's gensim backend relies on, reached only here.

A shard trains with gensim's own Cython kernels on a model whose weights swapvec sets each round:

* ``gensim.models.word2vec_inner``: ``train_batch_sg`` and ``train_batch_cbow`` (called with the model, a batch of
  sentences as word ids, the learning rate and scratch buffers) and ``MAX_WORDS_IN_BATCH``;
* ``Word2Vec.build_vocab_from_freq`` with ``sorted_vocab=0`` keeping each word's index equal to its key;
* the model's arrays, written in place: ``wv.vectors``, ``syn1neg`` (or ``syn1``), and its RNG ``model.random``.

These are stable across the gensim versions in :data:`SUPPORTED`, which the suite and the compatibility matrix test
at both ends. Any other version is refused before training starts, with what to install, rather than failing inside
a task or, worse, training differently.
"""

from __future__ import annotations

import importlib

import gensim

from swapvec.errors import BadInput

#: The gensim versions swapvec is tested with, as pyproject.toml's dependency says (a test keeps the two equal).
SUPPORTED = (">=4.3.3", "<4.5")
_LOWEST, _BELOW = (4, 3, 3), (4, 5)

#: Module attributes the gensim backend uses, checked by :func:`check_gensim`.
_NEEDED = {
    "gensim.models.word2vec_inner": ("train_batch_sg", "train_batch_cbow", "MAX_WORDS_IN_BATCH"),
    "gensim.models.word2vec": ("Word2Vec", "Word2Vec.build_vocab_from_freq"),
}


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_gensim(version: str | None = None) -> None:
    """Refuse a gensim whose internals swapvec was not tested with.

    Raises
    ------
    BadInput
        gensim's version is outside :data:`SUPPORTED`, or a module attribute the backend calls is missing; the
        message names it and the versions to install.
    """
    version = version or gensim.__version__
    install = f"install gensim{','.join(SUPPORTED)} (swapvec trains with gensim's internal kernels)"
    if not _LOWEST <= _version(version) < _BELOW:
        raise BadInput(f"gensim {version} is not supported: {install}")
    for module, names in _NEEDED.items():
        try:
            found = importlib.import_module(module)
        except ImportError as exc:
            raise BadInput(f"gensim {version} lacks {module} ({exc}): {install}") from None
        missing = [n for n in names if not hasattr(found, n.split(".")[0])]
        missing += [n for n in names if "." in n and n not in missing and not _has(found, n)]
        if missing:
            raise BadInput(f"gensim {version} lacks {module}.{', '.join(missing)}: {install}")


def _has(module: object, dotted: str) -> bool:
    target = module
    for part in dotted.split("."):
        target = getattr(target, part, None)
        if target is None:
            return False
    return True


check_gensim()
from gensim.models.word2vec_inner import MAX_WORDS_IN_BATCH, train_batch_cbow, train_batch_sg  # noqa: E402

__all__ = ["MAX_WORDS_IN_BATCH", "SUPPORTED", "check_gensim", "train_batch_cbow", "train_batch_sg"]
