"""Both backends on a small real corpus (gensim's Lee news), and determinism for a seed."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F
from scipy.stats import spearmanr

from swapvec.config import Config, load_config
from swapvec.steps import train_params
from swapvec.store import read_corpus
from swapvec.tokenize import tokenize
from swapvec.train import train, vocabulary


@pytest.fixture(scope="module")
def lee(spark):
    cfg = load_config(None, ["input.path=sample:lee", "train.min_count=3"])
    sentences = tokenize(read_corpus(spark, cfg.input), cfg.tokenize).withColumn("copy", F.lit(0))
    return cfg, sentences.localCheckpoint(eager=True)


def _with(cfg: Config, **train_settings) -> Config:
    return cfg.replaced(train=cfg.train.replaced(**train_settings))


def _matrix(vectors) -> tuple[list[str], np.ndarray]:
    rows = vectors.orderBy(F.desc("count"), "word").collect()
    return [r.word for r in rows], np.array([r.vector for r in rows], dtype=np.float32)


def _pair_cosines(matrix: np.ndarray) -> np.ndarray:
    normed = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    sims = normed @ normed.T
    return sims[np.triu_indices(len(matrix), k=1)]


def test_vocabulary_is_ordered_by_count_then_word(spark):
    df = spark.createDataFrame([(["b", "a", "c", "a", "b", "d"],)], "tokens array<string>")
    rows = vocabulary(df, min_count=2).orderBy("idx").collect()
    assert [(r.idx, r.word, r["count"]) for r in rows] == [(0, "a", 2), (1, "b", 2)]


def test_copies_never_let_a_word_in_or_out_except_a_group_word(spark):
    # In the corpus (copy 0) "a" 3 times, "x" twice, "g" once; copies add "a" once, "x" twice, "g" twice, "y" 3 times.
    rows = [(0, ["a", "a", "x"]), (0, ["a", "x", "g"]), (1, ["a", "x", "g"]), (1, ["x", "g"]), (2, ["y", "y", "y"])]
    df = spark.createDataFrame(rows, "copy int, tokens array<string>")
    plain = {r.word: (r["count"], r.train_count) for r in vocabulary(df, min_count=3).collect()}
    assert plain == {"a": (3, 4)}
    grouped = {r.word: (r["count"], r.train_count) for r in vocabulary(df, 3, group_words=["g", "y"]).collect()}
    assert grouped == {"a": (3, 4), "g": (1, 3), "y": (0, 3)}


def test_max_vocab_size_keeps_the_corpus_most_frequent_words_whatever_the_copies(spark):
    # The corpus: "hub" 3 times, "m1" and "m2" twice; the copies add "m1" and "m2" twice each (a hub's members).
    rows = [(0, ["hub", "m1", "hub"]), (0, ["hub", "m2", "m1", "m2"]), (1, ["m1", "m2"]), (1, ["m1", "m2"])]
    df = spark.createDataFrame(rows, "copy int, tokens array<string>")
    kept = vocabulary(df, 1, max_vocab_size=2).orderBy("idx").collect()
    # Ranked by train_count the members (4 each) took the hub's (3) place.
    assert [(r.idx, r.word, r["count"], r.train_count) for r in kept] == [(0, "m1", 2, 4), (1, "hub", 3, 3)]


def test_run_count_is_what_this_run_trains_without_the_counts_a_continuation_carries(spark):
    df = spark.createDataFrame([(["a", "a", "b"],), (["a", "c"],)], "tokens array<string>")
    prior = spark.createDataFrame([("a", 5, 5), ("d", 4, 4)], "word string, count long, train_count long")
    rows = {r.word: (r.train_count, r.run_count) for r in vocabulary(df, 1, prior=prior).collect()}
    assert rows == {"a": (8, 3), "b": (1, 1), "c": (1, 1), "d": (4, 0)}
    alone = {r.word: (r.train_count, r.run_count) for r in vocabulary(df, 1).collect()}
    assert alone == {"a": (3, 3), "b": (1, 1), "c": (1, 1)}


def test_gensim_backend_repeats_exactly_for_a_seed(spark, lee):
    cfg = _with(lee[0], epochs=1, sync_rounds=3)
    first = _matrix(train(spark, lee[1], train_params(cfg))[0])[1]
    assert np.array_equal(_matrix(train(spark, lee[1], train_params(cfg))[0])[1], first)
    assert not np.array_equal(_matrix(train(spark, lee[1], train_params(_with(cfg, seed=2)))[0])[1], first)


@pytest.fixture(scope="module")
def single_process_gensim(lee):
    """gensim on one process, the Lee corpus, seeds 1 and 2: trained once for every case that compares with it."""
    from gensim.models import Word2Vec

    corpus = [list(r.tokens) for r in lee[1].orderBy("sentence_id", "chunk").collect()]
    return [
        Word2Vec(corpus, vector_size=100, window=5, min_count=3, epochs=10, seed=seed, workers=1, sg=1).wv
        for seed in (1, 2)
    ]


@pytest.mark.parametrize(("partitions", "threads", "shards"), [(2, 1, 2), (4, 2, 2)])
def test_gensim_backend_learns_what_single_process_gensim_learns(
    spark, lee, single_process_gensim, partitions, threads, shards
):
    cfg = _with(lee[0], epochs=10, num_partitions=partitions, threads=threads)
    vectors, stats = train(spark, lee[1], train_params(cfg))
    words, ours = _matrix(vectors)
    assert stats["vocab_size"] == len(words) > 2000 and np.isfinite(ours).all()
    assert (stats["shards"], stats["threads"]) == (shards, threads)
    reference, other = single_process_gensim
    top = words[:300]
    theirs = np.array([reference[w] for w in top])
    agreement = spearmanr(_pair_cosines(ours[:300]), _pair_cosines(theirs)).statistic
    # Two single-process gensim runs with different seeds agree to about the same degree.
    baseline = spearmanr(_pair_cosines(np.array([other[w] for w in top])), _pair_cosines(theirs)).statistic
    print(f"agreement with gensim {agreement:.3f}, gensim seed-to-seed {baseline:.3f}")
    assert agreement > baseline - 0.05


@pytest.mark.parametrize("backend", ["gensim", "mllib"])
def test_both_backends_report_the_words_they_trained_and_their_rate(spark, lee, backend):
    cfg = _with(lee[0], backend=backend, epochs=2, sync_rounds=2)
    _, stats = train(spark, lee[1], train_params(cfg))
    sentences = [list(r.tokens) for r in lee[1].select("tokens").collect()]
    if backend == "gensim":  # the words it trains: known words of sentences left with two or more
        vocab = {r.word for r in vocabulary(lee[1], cfg.train.min_count).collect()}
        known = [len([w for w in s if w in vocab]) for s in sentences]
        per_epoch = sum(n for n in known if n > 1)
        assert stats["sync_rounds"] == 2 and stats["transport"] == "broadcast"
        # threads: auto in local mode: the session's one CPU a task, one thread a shard, said with the reason.
        assert (stats["cores"], stats["executors"], stats["threads"], stats["task_cpus"]) == (2, 1, 1, 1)
        assert stats["scheduling"] == "spark.task.cpus" and stats["scheduling_reason"].startswith("local mode")
    else:  # every input token: MLlib does not say how many it kept
        per_epoch = sum(map(len, sentences))
    assert stats["words"] == 2 * per_epoch
    assert stats["shards"] == cfg.train.num_partitions and stats["seconds"] > 0
    assert stats["words_per_second"] > 0


def test_a_profile_the_cluster_refuses_trains_on_the_sessions_cpus_and_the_same_vectors(spark, lee, monkeypatch):
    """A platform whose scheduler refuses the task profile at the first round's job: the round runs again with one
    thread on the session's CPUs, and the vectors are those of ``threads: 1``."""
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    from swapvec.train import cores

    cfg = _with(lee[0], epochs=1, num_partitions=1)  # one shard: auto asks for both local cores
    one_thread = _matrix(train(spark, lee[1], train_params(_with(cfg, threads=1)))[0])[1]

    def granted(session, cpus):
        return ResourceProfileBuilder().require(TaskResourceRequests().cpus(cpus)).build, "granted here"

    monkeypatch.setattr(cores, "task_cpus_profile", granted)
    vectors, stats = train(spark, lee[1], train_params(cfg))
    assert stats["scheduling"] == "spark.task.cpus" and stats["threads"] == 1
    assert stats["scheduling_reason"].startswith("refused by the cluster: ")
    assert np.array_equal(_matrix(vectors)[1], one_thread)


def test_mllib_backend_learns_the_corpus(spark, lee):
    vectors, stats = train(spark, lee[1], train_params(_with(lee[0], backend="mllib", epochs=5)))
    words, a = _matrix(vectors)
    assert stats["vocab_size"] == len(words) > 2000 and np.isfinite(a).all() and a.shape[1] == 100
    normed = a / np.linalg.norm(a, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(words)}
    days = [index[d] for d in ("monday", "tuesday", "wednesday", "thursday", "friday")]
    sims = normed[days] @ normed.T
    between_days = np.mean([sims[i, j] for i in range(len(days)) for j in days if j != days[i]])
    assert between_days > np.mean(sims) + 0.1  # the days of the week are each other's neighbours
