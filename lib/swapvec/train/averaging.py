"""Synchronised parameter averaging of gensim word2vec trained per data shard: the settings and the maths.

Every shard trains from the same global weights for one *round* (``swapvec.train.shard.ShardTrainer``) and returns
its sparse change (:class:`ShardUpdate`); the changes are summed over the shards and a :class:`Combiner` applies the
sum to the global weights. ``params.sync_rounds`` rounds cover ``params.epochs`` passes over the data, with one
global linear learning-rate schedule (``alpha`` -> ``min_alpha``) over all rounds. Pure numpy, no Spark.

The combine rule: shards train with learning rate ``alpha(t) * k``, ``k = shard_alpha_scale(params, P)``, and the
summed changes are divided by ``k``. For a word a shard sees rarely this is the sum of the changes at the true
learning rate (the linear-scaling rule of large-batch SGD); for a word every shard sees often, each shard's change
already reaches the word's local equilibrium and the division averages the ``P`` estimates instead of adding them.
Because the rule is linear in the changes, shards may be summed before they reach the driver. Plain sums and means,
which it was chosen over, lose quality as the shards grow.

Vocabulary keys are the ints ``0..V-1`` with ``counts`` sorted descending (index == key), so sentences are int
arrays and the same row means the same word everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from swapvec.train.internals import MAX_WORDS_IN_BATCH

if TYPE_CHECKING:
    from swapvec.config import TrainConfig

__all__ = [
    "MAX_SHARDS",
    "MAX_SHARD_ALPHA",
    "MAX_THREADS",
    "ROUND_WORDS",
    "Combiner",
    "GensimParams",
    "ShardUpdate",
    "default_sync_rounds",
    "max_shards",
    "shards_for",
    "threads_for",
    "initial_weights",
    "memory_bound_bytes",
    "shard_alpha_scale",
]

_REAL = np.float32

#: Most shards a run trains, whatever ``train.num_partitions``: the combine rule holds quality from 1 to 8 shards and
#: loses it past that (16 shards on GCIDE: WS-353 0.39 against 0.55), so more partitions give a shard more threads
#: (``train.threads``), not more shards.
MAX_SHARDS = 8
#: Most threads a shard trains with when ``train.threads`` is ``auto``: what one gensim process gains from threads.
#: gensim's kernels train with the GIL released, but each batch's words are looked up and drawn for subsampling
#: under it, as the batches are cut: about 6% of a word's work, measured on 2 cores. By Amdahl's law 8 threads then
#: train at most 5.6x one thread's words a second, and each thread past 8 adds under half a thread's. Beyond 2
#: threads that is an assumption: the threads also share the frequent words' rows and the memory bandwidth, which
#: costs more as they grow, and gensim's own threads, fed from Python as these are, stop gaining at about 8 to 12.
MAX_THREADS = 8
#: Words trained a epoch from which a run of up to 4 shards trains the full rounds of :func:`default_sync_rounds`;
#: fewer words, proportionally fewer rounds, down to half.
ROUND_WORDS = 2_500_000
#: Cap of the shards' learning rate (:attr:`GensimParams.max_shard_alpha`).
MAX_SHARD_ALPHA = 0.1


@dataclass(frozen=True)
class GensimParams:
    """Training settings, with gensim's own names and meanings.

    The user's hyper-parameters have no default here: their defaults and valid ranges are
    ``swapvec.config.TrainConfig``'s, and :meth:`from_config` is the one place that copies them. The fields with a
    default are constants users never set.

    Parameters
    ----------
    vector_size : int
        Dimensions ``D`` (>= 1).
    window : int
        Maximum context distance (>= 1); gensim shrinks it randomly per word.
    sg : int
        1 = skip-gram, 0 = CBOW.
    hs : int
        1 = hierarchical softmax (then ``negative`` must be 0).
    negative : int
        Negative samples per positive pair (0 with ``hs=1``).
    sample : float
        Subsampling threshold for frequent words (0 = off), applied with the *global* counts.
    alpha, min_alpha : float
        Learning rate at the start and end of the whole training (linear in between).
    epochs : int
        Passes over the data, summed over all rounds (>= 1).
    seed : int
        Seed of the initial weights and (mixed with shard and round) of gensim's RNG.
    sync_rounds : int
        Synchronisation rounds over the whole training (>= 1); :func:`default_sync_rounds` when the user sets none.
    ns_exponent : float
        Exponent of the negative-sampling distribution over counts (gensim's default).
    cbow_mean : int
        1 = CBOW averages the context vectors, 0 = sums them (gensim's default).
    batch_words : int
        Words per gensim batch (gensim's ``batch_words``); the learning rate is updated per batch.
    shrink_windows : bool
        gensim's ``shrink_windows``.
    max_shard_alpha : float
        Cap of the shard learning rate: the factor is ``min(P, max(1, max_shard_alpha / alpha))``, at most 4 at
        alpha 0.025. Uncapped (``k = 8`` at 8 shards) the analogies halve on four copies of GCIDE (0.244 -> 0.123);
        a factor below ``P / 2`` lets the words every shard moves overshoot, which is why no run trains more than
        :data:`MAX_SHARDS` shards.
    """

    vector_size: int
    window: int
    sg: int
    hs: int
    negative: int
    sample: float
    alpha: float
    min_alpha: float
    epochs: int
    seed: int
    sync_rounds: int
    ns_exponent: float = 0.75
    cbow_mean: int = 1
    batch_words: int = MAX_WORDS_IN_BATCH
    shrink_windows: bool = True
    max_shard_alpha: float = MAX_SHARD_ALPHA

    def __post_init__(self) -> None:
        if bool(self.hs) == bool(self.negative):
            # One output matrix per model keeps the update format simple; gensim allows both at once.
            raise ValueError("exactly one of hs=1 or negative>0 is supported")
        if self.sync_rounds < 1 or self.epochs < 1:
            raise ValueError("sync_rounds and epochs must be >= 1")

    def word2vec_settings(self) -> dict[str, Any]:
        """The settings as ``gensim.models.Word2Vec``'s arguments (a shard's model; a benchmark's plain gensim)."""
        return {
            "vector_size": self.vector_size,
            "window": self.window,
            "sg": self.sg,
            "hs": self.hs,
            "negative": self.negative,
            "sample": self.sample,
            "alpha": self.alpha,
            "min_alpha": self.min_alpha,
            "epochs": self.epochs,
            "ns_exponent": self.ns_exponent,
            "cbow_mean": self.cbow_mean,
            "seed": self.seed,
            "batch_words": self.batch_words,
            "shrink_windows": self.shrink_windows,
        }

    @classmethod
    def from_config(cls, train: TrainConfig, sync_rounds: int) -> GensimParams:
        """The settings of ``train`` (``Config.train``), with ``sync_rounds`` already resolved (never None)."""
        return cls(
            vector_size=train.vector_size,
            window=train.window,
            sg=train.sg,
            hs=train.hs,
            negative=train.negative,
            sample=train.sample,
            alpha=train.alpha,
            min_alpha=train.min_alpha,
            epochs=train.epochs,
            seed=train.seed,
            sync_rounds=sync_rounds,
        )


@dataclass
class ShardUpdate:
    """One shard's change in one round (or several shards' changes summed); sparse over the rows changed.

    Attributes
    ----------
    rows : np.ndarray
        int32 row ids (== word ids), sorted ascending, unique.
    d_in : np.ndarray
        ``len(rows) x D`` float32 change of the input vectors (``wv.vectors``).
    d_out : np.ndarray
        ``len(rows) x D`` float32 change of the output weights (``syn1neg`` or ``syn1``).
    updates : np.ndarray
        int32 per row: occurrences of the word in the shard's data of this round (before subsampling); 0 for rows
        changed only as negative samples or tree nodes.
    words : int
        Raw words in the shard's data of this round (with repetition over epochs).
    """

    rows: np.ndarray
    d_in: np.ndarray
    d_out: np.ndarray
    updates: np.ndarray
    words: int


def initial_weights(vocab_size: int, params: GensimParams) -> tuple[np.ndarray, np.ndarray]:
    """Initial global weights, the same values gensim 4.4 itself draws for ``seed``.

    Parameters
    ----------
    vocab_size : int
        ``V`` (>= 1).
    params : GensimParams
        Uses ``vector_size`` and ``seed``.

    Returns
    -------
    w_in : np.ndarray
        ``V x D`` float32, uniform in ``[-1, 1) / D`` from ``np.random.default_rng(seed)`` (gensim 4's
        ``prep_vectors``).
    w_out : np.ndarray
        ``V x D`` float32 zeros. gensim's ``syn1neg`` and ``syn1`` (hierarchical softmax, one row per word though
        only ``V - 1`` inner nodes are used) both have this shape.
    """
    d = params.vector_size
    rng = np.random.default_rng(seed=params.seed)
    w_in = rng.random((vocab_size, d), dtype=_REAL)
    w_in *= 2.0
    w_in -= 1.0
    w_in /= d
    return w_in, np.zeros((vocab_size, d), dtype=_REAL)


def max_shards(alpha: float) -> int:
    """Most shards a run at learning rate ``alpha`` trains: :data:`MAX_SHARDS`, and never more than twice the shards'
    rate factor (``max_shard_alpha / alpha``, :func:`shard_alpha_scale`), past which the words every shard moves
    overshoot. 8 at the default 0.025; 4 at 0.05, where 8 shards lose much of WS-353 and most of SimLex-999 (on
    GCIDE 0.405 and 0.090, against 0.641 and 0.359 at 2 shards)."""
    return max(1, min(MAX_SHARDS, int(2 * max(1.0, MAX_SHARD_ALPHA / alpha) + 1e-9)))


def shards_for(partitions: int, threads: int = 1, alpha: float = 0.025) -> int:
    """Shards a run trains for ``train.num_partitions``, ``train.threads`` and ``train.alpha``:
    ``ceil(partitions / threads)``, at most :func:`max_shards`. ``partitions`` is the parallelism of training, shards
    times their threads."""
    return max(1, min(-(-int(partitions) // max(1, int(threads))), max_shards(alpha)))


def threads_for(shards: int, executor_cores: Sequence[int], most: int = MAX_THREADS) -> int:
    """Threads a shard for ``train.threads: auto``: the most, up to ``most``, with which all ``shards`` tasks run at
    once on executors offering ``executor_cores`` (a task's threads share one executor), so that shards x threads
    takes the cluster's cores and no shard waits for another; 1 when the cores are fewer than the shards.

    Examples
    --------
    >>> threads_for(2, [4]), threads_for(8, [1] * 64), threads_for(8, [8] * 8), threads_for(8, [16])
    (2, 1, 8, 2)
    >>> threads_for(3, [4])  # 2 threads would leave a shard waiting for a core
    1
    """
    threads = 1
    for t in range(2, max(1, most) + 1):
        if sum(int(c) // t for c in executor_cores) >= shards:
            threads = t
    return threads


def default_sync_rounds(epochs: int, n_shards: int, words: int | None = None) -> int:
    """Rounds when the user sets none: ``epochs`` times the rounds a epoch, one round for one shard.

    Shards drift apart between synchronisations the more of them there are, and every round costs a fixed overhead
    (a Spark job, shipping the weights). With 5.1M words trained a epoch (GCIDE) 8 shards need ``min(P, 5)`` rounds
    a epoch, 25 over 5 epochs, and 2 shards do as well with 10. On a small corpus a shard trains few words between
    synchronisations: up to 4 shards, below :data:`ROUND_WORDS` words trained a epoch (``words``: what this run
    trains, the vocabulary's summed ``run_count``) the rounds a epoch are ``min(P, 5)`` scaled by
    ``words / ROUND_WORDS``, never below half of it; on a million words half the rounds cost 2 and 4 shards 0.01 of
    WS-353 or less on average. At 8 shards every smaller count measured loses quality, so 5 shards and more keep the
    full rounds. ``words=None`` gives the full rounds, ``words=0`` the fewest (groups added).
    """
    if n_shards <= 1:
        return 1
    full = min(n_shards, 5)
    if words is None or n_shards > 4:
        return epochs * full
    return epochs * max(-(-full // 2), min(full, -(-full * int(words) // ROUND_WORDS)))


def shard_alpha_scale(params: GensimParams, n_shards: int) -> float:
    """Factor ``k`` on the learning rate inside shards: ``min(P, max(1, max_shard_alpha / alpha))``, 1 for one shard.

    The :class:`Combiner` divides the summed changes by the same factor, so for rarely seen words the effective
    learning rate stays ``alpha(t)``.
    """
    if n_shards <= 1:
        return 1.0
    return float(max(1.0, min(float(n_shards), params.max_shard_alpha / params.alpha)))


class Combiner:
    """Sums the shards' changes of a round and applies them to the global weights, divided by the shard rate factor.

    Parameters
    ----------
    vocab_size : int
        ``V``.
    vector_size : int
        ``D``.
    n_shards : int
        ``P`` (>= 1): the shards a round's :meth:`add` calls must cover.
    params : GensimParams
        Uses ``alpha`` and ``max_shard_alpha`` (:func:`shard_alpha_scale`).

    Notes
    -----
    Memory: two ``V x D`` float32 accumulators. Shards must be added in the same order every run for results to be
    reproducible bit for bit (float32 addition is not associative).
    """

    def __init__(self, vocab_size: int, vector_size: int, n_shards: int, params: GensimParams) -> None:
        self.vocab_size = vocab_size
        self.vector_size = vector_size
        self.n_shards = int(n_shards)
        self.params = params
        self.scale = shard_alpha_scale(params, self.n_shards)
        self.sum_in = np.zeros((vocab_size, vector_size), dtype=_REAL)
        self.sum_out = np.zeros((vocab_size, vector_size), dtype=_REAL)
        self.n_added = 0

    def add(self, update: ShardUpdate, shards: int = 1) -> None:
        """Accumulate a change; ``update`` may already be the sum of ``shards`` shards' changes, summed in shard order.

        Call it in shard order until the round's ``n_shards`` shards are in.
        """
        r = update.rows
        self.sum_in[r] += update.d_in
        self.sum_out[r] += update.d_out
        self.n_added += shards

    def apply(self, w_in: np.ndarray, w_out: np.ndarray) -> None:
        """Apply the round's combined change to ``w_in``/``w_out`` in place and reset the accumulators.

        Raises
        ------
        RuntimeError
            The round's changes do not cover ``n_shards`` shards.
        """
        if self.n_added != self.n_shards:
            raise RuntimeError(f"apply() after {self.n_added} shards were added, expected {self.n_shards}")
        factor = 1.0 / self.scale
        for summed, w in ((self.sum_in, w_in), (self.sum_out, w_out)):
            if factor != 1.0:
                summed *= factor
            w += summed
            summed.fill(0.0)
        self.n_added = 0


def memory_bound_bytes(vocab_size: int, params: GensimParams) -> dict[str, int]:
    """Upper bounds of the bytes the driver needs for the weights and a round's change, to refuse large vocabularies
    before training starts.

    Parameters
    ----------
    vocab_size : int
        ``V``.
    params : GensimParams
        Uses ``vector_size``.

    Returns
    -------
    dict[str, int]
        ``weights``: one copy of ``w_in`` + ``w_out``; ``update``: one :class:`ShardUpdate` at its largest (every
        row changed); ``driver``: the global weights, the :class:`Combiner`'s sums and a round's change, whatever
        the number of shards (they are summed before the driver).
    """
    d = params.vector_size
    mat = vocab_size * d * 4
    weights = 2 * mat
    update = 2 * mat + vocab_size * 8  # rows and updates are int32
    # A round's change is on the driver three times at once: the collected Arrow blocks, their payloads as Python
    # bytes, and the one change they are concatenated into (swapvec.train.wire.round_change). Python's own objects
    # (a few per block) stay well under the MiB on top.
    driver = weights + 2 * mat + 3 * update + 2**20
    return {"weights": weights, "update": update, "driver": driver}
