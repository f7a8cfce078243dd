"""A token corpus in memory for the benches that run the gensim backend's maths without Spark (scaling_cores.py,
scaling_model.py): its lines, its vocabulary as the product's int ids, each sentence's shard, and the scores.

Not a script. The functions came from the averaging harness that chose the combine rule and the rounds (its
driver is in git history, bench/RESULTS.md says where), so the figures measured since are scored the same way.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
from gensim.models import KeyedVectors
from gensim.test.utils import datapath


def load(words_limit: int, corpus: str, skip_words: int = 0) -> tuple[list[list[str]], int]:
    """The corpus's lines (one sentence a line, words split on white space) from the first after ``skip_words``
    words, until ``words_limit`` words (0: to the end), and the words read."""
    lines = []
    n = skipped = 0
    with open(corpus) as f:
        for line in f:
            t = line.split()
            if skipped < skip_words:
                skipped += len(t)
                continue
            lines.append(t)
            n += len(t)
            if words_limit and n >= words_limit:
                break
    return lines, n


def vocab(lines: list[list[str]], min_count: int = 5) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    """The words seen ``min_count`` times, most frequent first (index == id, as the product's keys), their counts,
    and each line as an int32 array of ids (empty lines kept: a sentence's position decides its shard)."""
    c = Counter(w for tokens in lines for w in tokens)
    items = sorted(((k, v) for k, v in c.items() if v >= min_count), key=lambda kv: -kv[1])
    keys = [k for k, _ in items]
    counts = np.array([v for _, v in items], dtype=np.int64)
    idx = {k: i for i, k in enumerate(keys)}
    sents = [np.array([idx[w] for w in tokens if w in idx], dtype=np.int32) for tokens in lines]
    return keys, counts, sents


def shard_of(n_sentences: int, n_shards: int, seed: int) -> np.ndarray:
    """Deterministic shard of each sentence position: a splitmix64 hash of ``(position, seed)`` mod ``n_shards``;
    int64 ids in ``[0, n_shards)``."""
    with np.errstate(over="ignore"):
        z = np.arange(n_sentences, dtype=np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(n_shards)).astype(np.int64)


def evaluate(keys: list[str], vectors: np.ndarray) -> dict[str, float]:
    """WS-353 and SimLex-999 (Spearman) and Google analogies over the 30,000 most frequent words (accuracy, whatever
    share of the questions is in the vocabulary: not the product's coverage rule), as gensim ships them."""
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(keys, vectors)
    logging.getLogger("gensim").setLevel(logging.ERROR)
    ws = kv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1][0]
    sl = kv.evaluate_word_pairs(datapath("simlex999.txt"))[1][0]
    an = kv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=30000)[0]
    return dict(ws353=round(float(ws), 4), simlex=round(float(sl), 4), analogy=round(float(an), 4))
