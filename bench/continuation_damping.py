"""Issue 16 probe: part-after-part continuation in plain gensim, with each known word's updates damped.

The corpus is cut into 5 parts in line order. gensim trains part 1, then each later part is added with
``build_vocab(update=True)`` and ``train`` (5 epochs a part, the product's settings: skip-gram, negative 5, 100 dims,
window 5, min_count 5, sample 1e-3, 2 workers, seed 1). A variant scales the updates of each word's input vector in
part k by gensim's per-word ``vectors_lockf``: ``share`` is the part's occurrences of the word over all seen so far,
``sqrt`` its square root, ``share2`` twice it, at most 1; ``plain`` damps nothing (what the product does);
``alphaX`` damps nothing but starts each continued part's learning rate at ``X`` (falling to 0.0001). Prints WS-353
and SimLex-999 after parts 2 to 5 for each variant, and for one run over the whole corpus (``full``, or ``fullX``
at the learning rate ``X``):

    .venv/bin/python bench/continuation_damping.py /work/data/gcide.txt full plain share sqrt share2
    .venv/bin/python bench/continuation_damping.py /work/data/gcide.txt alpha0.04 alpha0.06 full0.04 full0.06
"""

from __future__ import annotations

import re
import sys
import time

import numpy as np
from gensim.models import Word2Vec
from gensim.test.utils import datapath

TOKEN = re.compile(r"[a-z0-9']+")
SETTINGS = dict(vector_size=100, window=5, min_count=5, sg=1, negative=5, sample=1e-3, workers=2, seed=1, epochs=5)
DAMPING = {"share": lambda s: s, "sqrt": lambda s: s**0.5, "share2": lambda s: min(1.0, 2 * s)}


def scores(model: Word2Vec) -> tuple[float, float]:
    return tuple(
        round(float(model.wv.evaluate_word_pairs(datapath(f))[1].statistic), 3)
        for f in ("wordsim353.tsv", "simlex999.txt")
    )


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
            model.train(part, total_examples=len(part), epochs=5, **rate)
            after.append(scores(model))
        print(variant, after, round(time.monotonic() - started, 1), flush=True)


if __name__ == "__main__":
    main()
