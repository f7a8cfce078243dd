"""How the combine rules of bench/averaging_research.py compare, without Spark: shards trained in 2 processes.

This is the harness that chose the ``lrmean`` rule and 25 rounds (bench/RESULTS.md). It runs the same averaging
core as the gensim backend (``swapvec.train.averaging`` and ``swapvec.train.shard``, with the research rules on top),
in-process, on a token file (one sentence a line, e.g. bench/get_gcide.py's output):

    python bench/averaging_rules.py --corpus /work/data/gcide.txt --words 0 --shards 8 --rounds 25 --combine lrmean
    python bench/averaging_rules.py --corpus /work/data/gcide.txt --words 0 --baseline

``--words 0`` uses the whole corpus. Each run appends one JSON line to results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from collections import Counter
from dataclasses import replace

import numpy as np
from averaging_research import ResearchParams, RuleCombiner, RuleTrainer, shard_of
from gensim.models import KeyedVectors, Word2Vec
from gensim.test.utils import datapath

from swapvec.config import TrainConfig
from swapvec.train.averaging import initial_weights

CORPUS = "/work/data/gcide.txt"  # --corpus


def load(words_limit, corpus=CORPUS, skip_words=0):
    """The corpus's lines from the first after ``skip_words`` words, until ``words_limit`` words (0: to the end)."""
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


def vocab(lines, min_count=5):
    c = Counter(w for tokens in lines for w in tokens)
    items = sorted(((k, v) for k, v in c.items() if v >= min_count), key=lambda kv: -kv[1])
    keys = [k for k, _ in items]
    counts = np.array([v for _, v in items], dtype=np.int64)
    idx = {k: i for i, k in enumerate(keys)}
    sents = []
    for tokens in lines:
        a = np.array([idx[w] for w in tokens if w in idx], dtype=np.int32)
        sents.append(a)  # keep empty ones: positions define shards
    return keys, counts, sents


def evaluate(keys, vectors):
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(keys, vectors)
    import logging

    logging.getLogger("gensim").setLevel(logging.ERROR)
    ws = kv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1][0]
    sl = kv.evaluate_word_pairs(datapath("simlex999.txt"))[1][0]
    an = kv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=30000)[0]
    return dict(ws353=round(float(ws), 4), simlex=round(float(sl), 4), analogy=round(float(an), 4))


# ---- worker side (fork inherits globals) ----
G = {}


def _init():
    G["trainer"] = RuleTrainer(G["counts"], G["params"], n_shards=G["P"])
    G["w_in"] = np.frombuffer(G["raw_in"], dtype=np.float32).reshape(G["shape"])
    G["w_out"] = np.frombuffer(G["raw_out"], dtype=np.float32).reshape(G["shape"])


def _task(args):
    i, r = args
    t = time.process_time()
    u = G["trainer"].train_round(G["shards"][i], r, G["w_in"], G["w_out"], shard_seed=i)
    return u, time.process_time() - t


def run_sharded(keys, counts, sents, params, P, shard_seed=12345):
    V, D = len(counts), params.vector_size
    sid = shard_of(len(sents), P, shard_seed)
    shards = [[s for s, j in zip(sents, sid, strict=False) if j == i and len(s)] for i in range(P)]
    raw_in = mp.RawArray("f", V * D)
    raw_out = mp.RawArray("f", V * D)
    w_in = np.frombuffer(raw_in, dtype=np.float32).reshape(V, D)
    w_out = np.frombuffer(raw_out, dtype=np.float32).reshape(V, D)
    a, b = initial_weights(V, params)
    w_in[:] = a
    w_out[:] = b
    G.update(counts=counts, params=params, P=P, raw_in=raw_in, raw_out=raw_out, shape=(V, D), shards=shards)
    comb = RuleCombiner(V, D, P, params)
    t0 = time.perf_counter()
    ttrain = 0.0
    c0 = time.process_time()
    ctx = mp.get_context("fork")
    with ctx.Pool(2, initializer=_init) as pool:
        for r in range(params.sync_rounds):
            for u, dt in pool.imap(_task, [(i, r) for i in range(P)]):
                comb.add(u)
                ttrain += dt
            comb.apply(w_in, w_out)
    wall = time.perf_counter() - t0
    G["driver_cpu"] = time.process_time() - c0
    return w_in.copy(), wall, ttrain


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=CORPUS)
    ap.add_argument("--words", type=int, default=2_000_000)
    ap.add_argument("--skip-words", type=int, default=0, help="start after this many of the corpus's words")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--combine", default="lrmean")
    ap.add_argument("--power", type=float, default=1.0)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--maxalpha", type=float, default=0.1)
    ap.add_argument("--beta", type=float, default=1.0, help="sat rule: a = beta x alpha(t)")
    ap.add_argument("--alpha", type=float, default=0.025)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--tag", default="")
    ap.add_argument("--results", default="results.jsonl", help="JSON lines file each run appends to")
    a = ap.parse_args()
    t = time.perf_counter()
    lines, nw = load(a.words, a.corpus, a.skip_words)
    keys, counts, sents = vocab(lines)
    time.perf_counter() - t
    rec = dict(words=nw, skip_words=a.skip_words, train_words=int(counts.sum()), V=len(keys), seed=a.seed, tag=a.tag)
    if a.baseline:
        t = time.perf_counter()
        c0 = time.process_time()
        m = Word2Vec(
            lines,
            vector_size=100,
            window=5,
            sg=1,
            negative=5,
            sample=1e-3,
            min_count=5,
            epochs=5,
            alpha=a.alpha,
            seed=a.seed,
            workers=2,
        )
        wall = time.perf_counter() - t
        rec.update(
            rule="gensim workers=2", shards=1, rounds=0, wall=round(wall, 1), cpu=round(time.process_time() - c0, 1)
        )
        rec.update(evaluate(m.wv.index_to_key, m.wv.vectors))
    else:
        # The other settings are the defaults: skip-gram, negative 5, 100 dims, window 5, 5 epochs, sample 1e-3.
        params = replace(
            ResearchParams.from_config(TrainConfig(seed=a.seed, alpha=a.alpha), sync_rounds=a.rounds),
            combine=a.combine,
            round_power=a.power,
            block_momentum=a.momentum,
            max_shard_alpha=a.maxalpha,
            sat_beta=a.beta,
        )
        w, wall, ttrain = run_sharded(keys, counts, sents, params, a.shards, shard_seed=a.seed)
        rec.update(
            rule=a.combine,
            shards=a.shards,
            rounds=a.rounds,
            power=a.power,
            momentum=a.momentum,
            maxalpha=a.maxalpha,
            beta=a.beta,
            alpha=a.alpha,
            wall=round(wall, 1),
            task_time=round(ttrain, 1),
            cpu=round(ttrain + G["driver_cpu"], 1),
        )
        rec.update(evaluate(keys, w))
    print(json.dumps(rec), flush=True)
    with open(a.results, "a") as f:
        f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
