"""Issue 16 probe: part-after-part continuation in plain gensim, with each known word's updates damped.

The corpus is cut into 5 parts in line order. gensim trains part 1, then each later part is added with
``build_vocab(update=True)`` and ``train`` (5 epochs a part, the product's settings: skip-gram, negative 5, 100 dims,
window 5, min_count 5, sample 1e-3, 2 workers, seed 1). A variant scales the updates of each word's input vector in
part k by gensim's per-word ``vectors_lockf``: ``share`` is the part's occurrences of the word over all seen so far,
``sqrt`` its square root, ``share2`` twice it, at most 1; ``plain`` damps nothing (what the product does);
``alphaX`` damps nothing but starts each continued part's learning rate at ``X`` (falling to 0.0001); ``averaged``
damps nothing and also scores, after each part, the mean of each word's input vectors after every part so far
(``mean``) and that mean weighted by the word's occurrences in each part (``weighted``); ``replayX`` damps nothing
but trains each continued part with ``X`` x its sentences drawn uniformly from the earlier parts, in a seeded
shuffle of both (``replay0``: the part shuffled, nothing drawn). Prints WS-353
and SimLex-999 after parts 2 to 5 for each variant, and for one run over the whole corpus (``full``, or ``fullX``
at the learning rate ``X``):

    .venv/bin/python bench/continuation_damping.py /work/data/gcide.txt full plain share sqrt share2
    .venv/bin/python bench/continuation_damping.py /work/data/gcide.txt alpha0.04 alpha0.06 full0.04 full0.06
    .venv/bin/python bench/continuation_damping.py /work/data/gcide.txt full averaged
    .venv/bin/python bench/continuation_damping.py /work/data/gcide.txt full plain replay0 replay0.25 replay0.5
"""

from __future__ import annotations

import re
import sys
import time

import numpy as np
from gensim.models import KeyedVectors, Word2Vec
from gensim.test.utils import datapath

TOKEN = re.compile(r"[a-z0-9']+")
SETTINGS = dict(vector_size=100, window=5, min_count=5, sg=1, negative=5, sample=1e-3, workers=2, seed=1, epochs=5)
DAMPING = {"share": lambda s: s, "sqrt": lambda s: s**0.5, "share2": lambda s: min(1.0, 2 * s)}


def scores(model: Word2Vec | KeyedVectors) -> tuple[float, float]:
    kv = model.wv if isinstance(model, Word2Vec) else model
    return tuple(
        round(float(kv.evaluate_word_pairs(datapath(f))[1].statistic), 3) for f in ("wordsim353.tsv", "simlex999.txt")
    )


class Snapshots:
    """Each word's input vector after every part, and its occurrences in that part; their means as KeyedVectors."""

    def __init__(self) -> None:
        self.total: dict[str, np.ndarray] = {}
        self.weighted: dict[str, np.ndarray] = {}
        self.parts: dict[str, int] = {}
        self.seen: dict[str, int] = {}

    def add(self, model: Word2Vec) -> None:
        for word in model.wv.index_to_key:
            vector, count = model.wv[word].astype(np.float64), model.wv.get_vecattr(word, "count")
            new = count - self.seen.get(word, 0)
            self.seen[word] = count
            self.total[word] = self.total.get(word, 0.0) + vector
            self.parts[word] = self.parts.get(word, 0) + 1
            self.weighted[word] = self.weighted.get(word, 0.0) + new * vector

    def means(self) -> tuple[KeyedVectors, KeyedVectors]:
        words = list(self.total)
        out = []
        for table, by in ((self.total, self.parts), (self.weighted, self.seen)):
            kv = KeyedVectors(100)
            kv.add_vectors(words, np.array([table[w] / by[w] for w in words], dtype=np.float32))
            out.append(kv)
        return out[0], out[1]


def with_replay(part: list, seen: list, share: float, rng: np.random.Generator) -> list:
    """The part with ``share`` x its sentences drawn uniformly from the earlier parts, interleaved at random."""
    drawn = [seen[i] for i in rng.choice(len(seen), size=int(share * len(part)), replace=False)]
    mixed = part + drawn
    return [mixed[i] for i in rng.permutation(len(mixed))]


def main() -> None:
    corpus, *variants = sys.argv[1:]
    with open(corpus, encoding="utf-8", errors="replace") as file:
        sentences = [s for s in (TOKEN.findall(line.lower()) for line in file) if s]
    n = len(sentences)
    parts = [sentences[i * n // 5 : (i + 1) * n // 5] for i in range(5)]
    for variant in variants:
        started = time.monotonic()
        if variant.startswith("full"):
            rate = {"alpha": float(variant[4:])} if variant != "full" else {}
            print(variant, scores(Word2Vec(sentences, **SETTINGS, **rate)), round(time.monotonic() - started, 1))
            continue
        model = Word2Vec(**SETTINGS)
        model.build_vocab(parts[0])
        model.train(parts[0], total_examples=len(parts[0]), epochs=5)
        snapshots = Snapshots()
        snapshots.add(model)
        seen, rng = list(parts[0]), np.random.default_rng(1)
        after = []
        for part in parts[1:]:
            before = {w: model.wv.get_vecattr(w, "count") for w in model.wv.index_to_key}
            model.build_vocab(part, update=True)
            if variant in DAMPING:
                counts = [(model.wv.get_vecattr(w, "count"), before.get(w, 0)) for w in model.wv.index_to_key]
                model.wv.vectors_lockf = np.array(
                    [DAMPING[variant]((total - old) / total) for total, old in counts], dtype=np.float32
                )
            rate = {"start_alpha": float(variant[5:]), "end_alpha": 0.0001} if variant.startswith("alpha") else {}
            if variant.startswith("replay"):
                part = with_replay(part, seen, float(variant[6:]), rng)
            model.train(part, total_examples=len(part), epochs=5, **rate)
            seen.extend(parts[len(after) + 1])
            after.append(scores(model))
            if variant == "averaged":
                snapshots.add(model)
                after[-1] = (*after[-1], *(score for kv in snapshots.means() for score in scores(kv)))
        print(variant, after, round(time.monotonic() - started, 1), flush=True)


if __name__ == "__main__":
    main()
