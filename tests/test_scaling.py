"""Quality as partitions grow: the averaging core at 16 partitions against 2, on a small corpus with known structure.

The corpus plants clusters of words that share contexts, among frequent function words every shard moves. The score
is the share of each cluster word's 10 nearest neighbours that are in its cluster. Rounds are few, so each shard
trains long between synchronisations, as on a large corpus: where quality at many partitions collapsed (issue 12).
"""

from __future__ import annotations

import numpy as np
import pytest

from swapvec.config import TrainConfig
from swapvec.train import averaging as avg
from swapvec.train.shard import ShardTrainer


def _planted(seed=0, clusters=25, per=20, function=40, sentences=12_000, length=12, p_function=0.4, noise=0.6):
    """Sentences of one cluster's words (a share ``noise`` from random clusters) and Zipf-distributed function
    words; ids remapped so counts are sorted descending. Returns the sentences, counts and each id's cluster (-1 for
    function words)."""
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, function + 1)
    zipf /= zipf.sum()
    raw = []
    for _ in range(sentences):
        cluster = np.where(rng.random(length) < noise, rng.integers(clusters, size=length), rng.integers(clusters))
        content = function + cluster * per + rng.integers(per, size=length)
        raw.append(np.where(rng.random(length) < p_function, rng.choice(function, size=length, p=zipf), content))
    counts = np.bincount(np.concatenate(raw), minlength=function + clusters * per)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    label = np.full(len(order), -1)
    label[rank[function:]] = np.arange(clusters * per) // per
    return [rank[s].astype(np.int32) for s in raw], counts[order].astype(np.int64), label


@pytest.fixture(scope="module")
def planted():
    return _planted()


def _cluster_share(w: np.ndarray, label: np.ndarray, k: int = 10) -> float:
    rows = np.flatnonzero(label >= 0)
    v = w[rows] / np.linalg.norm(w[rows], axis=1, keepdims=True)
    sims = v @ v.T
    np.fill_diagonal(sims, -2.0)
    top = np.argsort(-sims, axis=1)[:, :k]
    return float((label[rows][top] == label[rows][:, None]).mean())


def _train(planted, partitions: int, rounds: int, threads: int = 1) -> float:
    """What the gensim backend trains for ``train.num_partitions = partitions`` (its shards, rate factor and
    combine), without Spark; returns the cluster share."""
    sents, counts, label = planted
    shards = avg.shards_for(partitions, threads)
    params = avg.GensimParams.from_config(TrainConfig(epochs=5, min_count=1, vector_size=50), sync_rounds=rounds)
    w_in, w_out = avg.initial_weights(len(counts), params)
    trainer = ShardTrainer(counts, params, n_shards=shards, threads=threads)
    combiner = avg.Combiner(len(counts), params.vector_size, shards, params)
    for r in range(rounds):
        for shard in range(shards):
            combiner.add(trainer.train_round(sents[shard::shards], r, w_in, w_out, shard_seed=shard))
        combiner.apply(w_in, w_out)
    return _cluster_share(w_in, label)


@pytest.mark.slow
def test_16_partitions_train_8_shards_that_score_as_2_partitions_do_with_long_rounds(planted):
    assert avg.shards_for(16) == 8  # past 8 shards the averaged model falls apart (16 shards: 0.07 against 1.00)
    two = _train(planted, 2, rounds=5)
    sixteen = _train(planted, 16, rounds=5)
    assert two > 0.9  # the structure is learnt, so the comparison means something
    assert sixteen >= two - 0.05, f"16 partitions: {sixteen:.3f}, 2 partitions: {two:.3f}"


@pytest.mark.slow
def test_two_threads_on_one_shard_train_as_well_as_two_shards(planted):
    assert avg.shards_for(2, threads=2) == 1
    shards = _train(planted, 2, rounds=2)
    threads = _train(planted, 2, rounds=2, threads=2)
    assert threads >= shards - 0.05, f"1 shard x 2 threads: {threads:.3f}, 2 shards: {shards:.3f}"


def test_shards_are_partitions_over_threads_and_at_most_eight():
    assert [avg.shards_for(p) for p in (1, 2, 8, 16, 64)] == [1, 2, 8, 8, 8]
    assert [avg.shards_for(p, threads=2) for p in (1, 2, 3, 16, 64)] == [1, 1, 2, 8, 8]
    # A higher rate lowers the shards' rate factor, and with it the shards that can be averaged: twice the factor.
    assert [avg.shards_for(8, alpha=a) for a in (0.01, 0.025, 0.03, 0.05, 0.1, 0.5)] == [8, 8, 6, 4, 2, 2]
    for alpha in (0.025, 0.04, 0.05):
        params = avg.GensimParams.from_config(TrainConfig(alpha=alpha), sync_rounds=1)
        assert avg.shards_for(64, alpha=alpha) <= 2 * avg.shard_alpha_scale(params, 64)


def test_auto_threads_fill_the_executors_cores_with_every_shard_running_at_once():
    # One worker of 4 cores, 2 shards: 2 threads each. 64 one-core executors: a task's threads share one executor.
    assert avg.threads_for(2, [4]) == 2 and avg.threads_for(8, [1] * 64) == 1
    assert avg.threads_for(8, [8] * 8) == 8 and avg.threads_for(8, [16]) == 2
    # Never past what one process gains from threads, never a shard left waiting for cores.
    assert avg.threads_for(2, [64, 64]) == avg.MAX_THREADS and avg.threads_for(3, [4]) == 1
    assert avg.threads_for(4, [2]) == 1  # fewer cores than shards
