"""Tests of swapvec.train.averaging: determinism, combine maths, training progress, gensim parity."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from gensim.models import Word2Vec

try:
    from swapvec.train import averaging as avg
except ImportError:  # package not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
    from swapvec.train import averaging as avg

D = 16


def _corpus(n_sentences: int = 1500, vocab: int = 120, topics: int = 6, seed: int = 0):
    """Topic-structured synthetic corpus, ids remapped so that counts are sorted descending.

    Each sentence draws its words from one topic's block of the vocabulary (Zipf within the
    block) plus a few global function words, so there is co-occurrence structure to learn.
    """
    rng = np.random.default_rng(seed)
    block = vocab // topics
    zipf = 1.0 / np.arange(1, block + 1)
    zipf /= zipf.sum()
    sents = []
    for _ in range(n_sentences):
        t = rng.integers(topics)
        words = t * block + rng.choice(block, size=rng.integers(4, 16), p=zipf)
        glue = rng.integers(0, 3, size=rng.integers(0, 4))  # shared frequent words
        s = np.concatenate([words, glue])
        rng.shuffle(s)
        sents.append(s)
    counts = np.bincount(np.concatenate(sents), minlength=vocab)
    keep = counts > 0
    order = np.argsort(-counts, kind="stable")
    order = order[keep[order]]
    remap = np.full(vocab, -1)
    remap[order] = np.arange(len(order))
    sents = [remap[s].astype(np.int32) for s in sents]
    return sents, counts[order].astype(np.int64)


@pytest.fixture(scope="module")
def corpus():
    return _corpus()


def _params(**kw) -> avg.GensimParams:
    base = dict(vector_size=D, epochs=2, sync_rounds=3, combine="lrmean", seed=7)
    base.update(kw)
    return avg.GensimParams(**base)


def _split(sents, n_shards: int, seed: int = 3):
    sid = avg.shard_of(len(sents), n_shards, seed)
    return [[s for s, j in zip(sents, sid, strict=True) if j == i] for i in range(n_shards)]


def _sgns_loss(w_in, w_out, pairs, negs) -> float:
    """Mean skip-gram negative-sampling loss of fixed (input, output) pairs and negative rows."""
    u = w_in[pairs[:, 0]]
    pos = np.einsum("ij,ij->i", u, w_out[pairs[:, 1]])
    neg = np.einsum("ij,ikj->ik", u, w_out[negs])
    return float(np.mean(np.logaddexp(0, -pos) + np.logaddexp(0, neg).sum(axis=1)))


def test_initial_weights_match_gensim_and_are_deterministic(corpus):
    _, counts = corpus
    p = _params()
    w_in, w_out = avg.initial_weights(len(counts), p)
    again = avg.initial_weights(len(counts), p)
    assert w_in.dtype == np.float32 and w_in.shape == (len(counts), D)
    assert w_in.tobytes() == again[0].tobytes()
    assert not np.any(w_out) and w_out.shape == w_in.shape
    assert np.abs(w_in).max() <= 1.0 / D
    # the same values gensim 4 draws itself for that seed
    trainer = avg.ShardTrainer(counts, p, n_shards=1)
    assert np.array_equal(trainer.model.wv.vectors, w_in)


def test_vocabulary_order_kept_with_tied_counts():
    counts = np.array([9, 5, 5, 5, 2, 2, 1, 1, 1, 1])
    t = avg.ShardTrainer(counts, _params(), n_shards=1)
    assert t.model.wv.index_to_key == list(range(len(counts)))
    assert [t.model.wv.get_vecattr(i, "count") for i in range(len(counts))] == counts.tolist()
    with pytest.raises(ValueError):
        avg.ShardTrainer(counts[::-1].copy(), _params(), n_shards=1)


def test_params_validation():
    with pytest.raises(ValueError):
        avg.GensimParams(combine="median")
    with pytest.raises(ValueError):
        avg.GensimParams(hs=1, negative=5)
    with pytest.raises(ValueError):
        avg.GensimParams(sync_rounds=0)


def test_round_bounds_cover_stream_once():
    for power in (1.0, 2.0):
        p = _params(sync_rounds=7, round_power=power)
        b = avg.round_bounds(1003, p)
        assert b[0] == 0 and b[-1] == 1003 and len(b) == 8
        assert np.all(np.diff(b) >= 0)
    eq = avg.round_bounds(100, _params(sync_rounds=4))
    assert eq.tolist() == [0, 25, 50, 75, 100]
    early = np.diff(avg.round_bounds(1000, _params(sync_rounds=4, round_power=2.0)))
    assert np.all(np.diff(early) > 0)  # short rounds first


def test_shard_of_deterministic_and_balanced():
    a = avg.shard_of(10_000, 8, seed=5)
    assert np.array_equal(a, avg.shard_of(10_000, 8, seed=5))
    assert not np.array_equal(a, avg.shard_of(10_000, 8, seed=6))
    assert a.min() == 0 and a.max() == 7
    assert np.bincount(a).min() > 1100  # 1250 expected per shard


def test_train_round_is_deterministic_and_well_formed(corpus):
    sents, counts = corpus
    p = _params()
    w_in, w_out = avg.initial_weights(len(counts), p)
    shard = _split(sents, 2)[0]
    t1 = avg.ShardTrainer(counts, p, n_shards=2)
    u1 = t1.train_round(shard, 1, w_in, w_out, shard_seed=0)
    # a second, separately built trainer and a trainer reused after another round agree byte for byte
    t2 = avg.ShardTrainer(counts, p, n_shards=2)
    t2.train_round(_split(sents, 2)[1], 0, w_in, w_out, shard_seed=1)
    u2 = t2.train_round(shard, 1, w_in, w_out, shard_seed=0)
    for name in ("rows", "d_in", "d_out", "updates"):
        assert getattr(u1, name).tobytes() == getattr(u2, name).tobytes(), name
    assert u1.words == u2.words
    # other seed -> other result
    u3 = t2.train_round(shard, 1, w_in, w_out, shard_seed=9)
    assert u3.d_in.tobytes() != u1.d_in.tobytes()
    # format
    assert u1.rows.dtype == np.int32 and np.all(np.diff(u1.rows) > 0)
    assert u1.d_in.dtype == np.float32 and u1.d_in.shape == (len(u1.rows), D)
    assert u1.d_out.shape == u1.d_in.shape and u1.updates.shape == u1.rows.shape
    assert int(u1.updates.sum()) == u1.words > 0
    # the inputs were not modified
    assert np.array_equal(w_in, avg.initial_weights(len(counts), p)[0]) and not np.any(w_out)


def test_rounds_partition_the_epochs(corpus):
    sents, counts = corpus
    p = _params(sync_rounds=5, epochs=3)
    w_in, w_out = avg.initial_weights(len(counts), p)
    t = avg.ShardTrainer(counts, p, n_shards=1)
    total = sum(t.train_round(sents, r, w_in, w_out, 0).words for r in range(5))
    assert total == 3 * sum(len(s) for s in sents)


def test_round_lowers_loss_and_moves_vectors(corpus):
    sents, counts = corpus
    p = _params(sync_rounds=2, epochs=2, combine="sum")
    w_in, w_out = avg.initial_weights(len(counts), p)
    rng = np.random.default_rng(1)
    pairs, negs = [], []
    for s in sents[:400]:  # in-window pairs of the training data itself
        for i in range(len(s) - 1):
            pairs.append((s[i], s[i + 1]))
    pairs = np.array(pairs)
    negs = rng.integers(0, len(counts), size=(len(pairs), 5))
    # a non-trivial starting point (output weights not all zero) so the loss reflects both matrices
    w_out = (rng.standard_normal(w_out.shape) * 0.1).astype(np.float32)
    before = _sgns_loss(w_in, w_out, pairs, negs)
    t = avg.ShardTrainer(counts, p, n_shards=1)
    u = t.train_round(sents, 0, w_in, w_out, shard_seed=0)
    comb = avg.Combiner(len(counts), D, 1, p)
    comb.add(u)
    w_in2, w_out2 = w_in.copy(), w_out.copy()
    comb.apply(w_in2, w_out2)
    after = _sgns_loss(w_in2, w_out2, pairs, negs)
    assert after < before - 0.05, (before, after)
    assert np.linalg.norm(w_in2 - w_in) > 0.1 * np.linalg.norm(w_in)


def test_one_shard_one_round_equals_gensim(corpus):
    sents, counts = corpus
    p = _params(sync_rounds=1, epochs=3, combine="sum")
    w_in, w_out = avg.train_in_process([sents], counts, p)
    ref = Word2Vec(
        vector_size=D,
        window=p.window,
        sg=1,
        negative=p.negative,
        sample=p.sample,
        alpha=p.alpha,
        min_alpha=p.min_alpha,
        epochs=p.epochs,
        seed=p.seed,
        workers=1,
        min_count=1,
        sorted_vocab=0,
    )
    ref.build_vocab_from_freq({i: int(c) for i, c in enumerate(counts)})
    ref.random = np.random.RandomState(avg.round_seed(p, 0, 0))
    ref.train([s.tolist() for s in sents], total_examples=len(sents), epochs=p.epochs)
    # The only difference is float32 rounding of w + (w' - w) != w' in the delta representation.
    assert np.array_equal(w_out, ref.syn1neg)  # starts at zero, so exact
    assert np.abs(w_in - ref.wv.vectors).max() <= 4 * np.finfo(np.float32).eps * max(1.0, np.abs(w_in).max())
    assert np.abs(w_in - avg.initial_weights(len(counts), p)[0]).max() > 1e-3  # it did train


def test_train_in_process_deterministic_and_p1_rounds_close_to_gensim(corpus):
    sents, counts = corpus
    p = _params(sync_rounds=4, epochs=2)
    shards = _split(sents, 3)
    a = avg.train_in_process(shards, counts, p)
    b = avg.train_in_process(shards, counts, p)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    assert np.all(np.isfinite(a[0]))


def _upd(rows, d_in, d_out, updates=None):
    rows = np.asarray(rows, dtype=np.int32)
    d_in = np.asarray(d_in, dtype=np.float32)
    d_out = np.asarray(d_out, dtype=np.float32)
    upd = np.ones(len(rows), dtype=np.int32) if updates is None else np.asarray(updates, dtype=np.int32)
    return avg.ShardUpdate(rows=rows, d_in=d_in, d_out=d_out, updates=upd, words=int(upd.sum()))


def _combine(rule, updates, n_shards, **kw):
    p = avg.GensimParams(vector_size=2, combine=rule, **kw)
    comb = avg.Combiner(4, 2, n_shards, p)
    w_in = np.zeros((4, 2), np.float32)
    w_out = np.ones((4, 2), np.float32)
    for u in updates:
        comb.add(u)
    comb.apply(w_in, w_out)
    return w_in, w_out - 1, comb


HAND = [
    # shard 0 changes rows 0 and 1; shard 1 changes rows 0 and 2; row 3 untouched
    _upd([0, 1], [[1, 0], [2, 2]], [[0, 1], [1, 0]]),
    _upd([0, 2], [[1, 0], [0, 4]], [[1, 0], [3, 3]]),
]


def test_combine_sum_mean_touched():
    w_in, d_out, _ = _combine("sum", HAND, 2)
    assert w_in.tolist() == [[2, 0], [2, 2], [0, 4], [0, 0]]
    assert d_out.tolist() == [[1, 1], [1, 0], [3, 3], [0, 0]]
    w_in, d_out, _ = _combine("mean", HAND, 2)
    assert w_in.tolist() == [[1, 0], [1, 1], [0, 2], [0, 0]]
    w_in, d_out, _ = _combine("touched", HAND, 2)
    assert w_in.tolist() == [[1, 0], [2, 2], [0, 4], [0, 0]]
    assert d_out.tolist() == [[0.5, 0.5], [1, 0], [3, 3], [0, 0]]
    # counted per matrix: shard 1 lists row 1 but changes only its output row
    ups = [_upd([1], [[2, 0]], [[1, 0]]), _upd([1], [[0, 0]], [[1, 0]])]
    w_in, d_out, _ = _combine("touched", ups, 2)
    assert w_in[1].tolist() == [2, 0] and d_out[1].tolist() == [1, 0]


def test_combine_align():
    w_in, d_out, _ = _combine("align", HAND, 2)
    # row 0 in: identical changes -> ratio |2,0|^2 / (1 + 1) = 2 -> mean; row 0 out: orthogonal -> ratio 1 -> sum
    assert np.allclose(w_in, [[1, 0], [2, 2], [0, 4], [0, 0]])
    assert np.allclose(d_out, [[1, 1], [1, 0], [3, 3], [0, 0]])
    # partly aligned: d = (1,0), (1,1): |(2,1)|^2 = 5, sum of squares 3 -> factor 3/5
    w_in, _, _ = _combine("align", [_upd([0], [[1, 0]], [[0, 0]]), _upd([0], [[1, 1]], [[0, 0]])], 2)
    assert np.allclose(w_in[0], [2 * 0.6, 0.6])


def test_combine_lrmean_scale_and_cap():
    p = avg.GensimParams(combine="lrmean", alpha=0.025, max_shard_alpha=0.1)
    assert avg.shard_alpha_scale(p, 1) == 1.0
    assert avg.shard_alpha_scale(p, 2) == 2.0
    assert avg.shard_alpha_scale(p, 8) == pytest.approx(4.0)  # capped at 0.1 / 0.025
    assert avg.shard_alpha_scale(replace(p, combine="sum"), 8) == 1.0
    w_in, _, _ = _combine("lrmean", HAND, 2)
    assert w_in.tolist() == [[1, 0], [1, 1], [0, 2], [0, 0]]  # sum / 2 at P=2
    ups = [_upd([0], [[8, 0]], [[0, 0]]) for _ in range(8)]
    w_in, _, _ = _combine("lrmean", ups, 8)
    assert w_in[0].tolist() == [16, 0]  # sum 64 / scale 4


def test_block_momentum_carries_over_rounds():
    p = avg.GensimParams(vector_size=2, combine="sum", block_momentum=0.5)
    comb = avg.Combiner(4, 2, 1, p)
    w_in = np.zeros((4, 2), np.float32)
    w_out = np.zeros((4, 2), np.float32)
    comb.add(_upd([1], [[2, 0]], [[0, 0]]))
    comb.apply(w_in, w_out)
    assert w_in[1].tolist() == [2, 0]
    comb.add(_upd([1], [[0, 2]], [[0, 0]]))
    comb.apply(w_in, w_out)
    assert w_in[1].tolist() == [3, 2]  # 2 + (0.5 * (2, 0) + (0, 2))


def test_combiner_requires_every_shard_and_resets():
    _, _, comb = _combine("sum", HAND, 2)
    assert not np.any(comb.sum_in) and comb.n_added == 0 and not np.any(comb.updates)
    w = np.zeros((4, 2), np.float32)
    comb.add(HAND[0])
    with pytest.raises(RuntimeError):
        comb.apply(w, w.copy())


def test_hierarchical_softmax_runs(corpus):
    sents, counts = corpus
    p = _params(hs=1, negative=0, sync_rounds=2, epochs=1)
    w_in, w_out = avg.train_in_process(_split(sents, 2), counts, p)
    assert np.any(w_out) and np.all(np.isfinite(w_in))


def test_memory_bound_bytes():
    p = avg.GensimParams()
    m = avg.memory_bound_bytes(70_000, p, 8)
    assert m["weights"] == 2 * 70_000 * 100 * 4
    assert m["driver"] > m["weights"] and m["task"] > m["weights"]
    assert avg.memory_bound_bytes(140_000, p, 8)["driver"] > m["driver"]
    assert avg.memory_bound_bytes(70_000, replace(p, block_momentum=0.5), 8)["driver"] > m["driver"]
