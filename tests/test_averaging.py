"""Tests of swapvec.train.averaging and .shard: determinism, the combine rule, training progress, gensim parity,
memory bounds.

The research rules the product's rule was chosen among are not tested here; bench/RESULTS.md says where they are in
git history.
"""

from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np
import pyarrow as pa
import pytest
from gensim.models import Word2Vec

from swapvec.config import TrainConfig
from swapvec.train import averaging as avg
from swapvec.train import wire
from swapvec.train.shard import ShardTrainer, round_bounds, round_seed

D = 16


def _params(**kw) -> avg.GensimParams:
    """The config's defaults, small: ``D`` dimensions, 2 epochs, 3 rounds, seed 7; ``kw`` overrides any field."""
    base = avg.GensimParams.from_config(TrainConfig(), sync_rounds=3)
    return dataclasses.replace(base, **{"vector_size": D, "epochs": 2, "seed": 7, **kw})


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


def _split(sents, n_shards: int):
    return [sents[i::n_shards] for i in range(n_shards)]


def _train(shards, counts, p: avg.GensimParams) -> tuple[np.ndarray, np.ndarray]:
    """The round loop of the gensim backend without Spark: every shard, then one combine, per round."""
    w_in, w_out = avg.initial_weights(len(counts), p)
    trainer = ShardTrainer(counts, p, n_shards=len(shards))
    combiner = avg.Combiner(len(counts), p.vector_size, len(shards), p)
    for r in range(p.sync_rounds):
        for i, sents in enumerate(shards):
            combiner.add(trainer.train_round(sents, r, w_in, w_out, shard_seed=i))
        combiner.apply(w_in, w_out)
    return w_in, w_out


def _sgns_loss(w_in, w_out, pairs, negs) -> float:
    """Mean skip-gram negative-sampling loss of fixed (input, output) pairs and negative rows."""
    u = w_in[pairs[:, 0]]
    pos = np.einsum("ij,ij->i", u, w_out[pairs[:, 1]])
    neg = np.einsum("ij,ikj->ik", u, w_out[negs])
    return float(np.mean(np.logaddexp(0, -pos) + np.logaddexp(0, neg).sum(axis=1)))


def test_params_take_every_user_setting_from_the_config_and_declare_no_default_of_their_own():
    train = TrainConfig(
        vector_size=7, window=3, sg=0, hs=1, negative=0, sample=0.0, alpha=0.05, min_alpha=0.001, epochs=4, seed=9
    )
    p = avg.GensimParams.from_config(train, sync_rounds=11)
    user = ("vector_size", "window", "sg", "hs", "negative", "sample", "alpha", "min_alpha", "epochs", "seed")
    assert {name: getattr(p, name) for name in user} == {name: getattr(train, name) for name in user}
    assert p.sync_rounds == 11
    fields = {f.name: f for f in dataclasses.fields(avg.GensimParams)}
    assert all(fields[name].default is dataclasses.MISSING for name in (*user, "sync_rounds"))


@pytest.mark.parametrize(
    ("shards", "words", "rounds"),
    [
        (1, 10**9, 1),  # one shard is plain gensim whatever its corpus
        (2, None, 10),
        (8, None, 25),
        (16, None, 25),
        (2, 5_148_823, 10),  # GCIDE's words a epoch: the rounds its quality table was measured with
        (8, 5_148_823, 25),
        (2, 1_500_000, 10),
        (4, 1_500_000, 15),
        (2, 990_796, 5),  # a fifth of GCIDE: half the rounds up to 4 shards
        (3, 990_796, 10),
        (4, 990_796, 10),
        (4, 50_000, 10),
        (8, 990_796, 25),  # fewer lost quality at 8 shards
        (5, 50_000, 25),
        (2, 0, 5),  # groups added to a trained model: the fewest
        (4, 0, 10),
    ],
)
def test_default_rounds_follow_the_shards_and_the_words_a_epoch(shards, words, rounds):
    assert avg.default_sync_rounds(5, shards, words) == rounds


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
    trainer = ShardTrainer(counts, p, n_shards=1)
    assert np.array_equal(trainer.model.wv.vectors, w_in)


def test_vocabulary_order_kept_with_tied_counts():
    counts = np.array([9, 5, 5, 5, 2, 2, 1, 1, 1, 1])
    t = ShardTrainer(counts, _params(), n_shards=1)
    assert t.model.wv.index_to_key == list(range(len(counts)))
    assert [t.model.wv.get_vecattr(i, "count") for i in range(len(counts))] == counts.tolist()
    with pytest.raises(ValueError):
        ShardTrainer(counts[::-1].copy(), _params(), n_shards=1)


def test_params_refuse_two_objectives_and_zero_rounds():
    with pytest.raises(ValueError):
        _params(hs=1, negative=5)
    with pytest.raises(ValueError):
        _params(sync_rounds=0)


def test_round_bounds_split_the_stream_into_equal_rounds_covering_it_once():
    p = _params(sync_rounds=7)
    b = round_bounds(1003, p)
    assert b[0] == 0 and b[-1] == 1003 and len(b) == 8
    assert np.all(np.diff(b) >= 0)
    eq = round_bounds(100, _params(sync_rounds=4))
    assert eq.tolist() == [0, 25, 50, 75, 100]


def test_train_round_is_deterministic_and_well_formed(corpus):
    sents, counts = corpus
    p = _params()
    w_in, w_out = avg.initial_weights(len(counts), p)
    shard = _split(sents, 2)[0]
    t1 = ShardTrainer(counts, p, n_shards=2)
    u1 = t1.train_round(shard, 1, w_in, w_out, shard_seed=0)
    # a second, separately built trainer and a trainer reused after another round agree byte for byte
    t2 = ShardTrainer(counts, p, n_shards=2)
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
    t = ShardTrainer(counts, p, n_shards=1)
    total = sum(t.train_round(sents, r, w_in, w_out, 0).words for r in range(5))
    assert total == 3 * sum(len(s) for s in sents)


def test_round_lowers_loss_and_moves_vectors(corpus):
    sents, counts = corpus
    p = _params(sync_rounds=2, epochs=2)
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
    t = ShardTrainer(counts, p, n_shards=1)
    u = t.train_round(sents, 0, w_in, w_out, shard_seed=0)
    comb = avg.Combiner(len(counts), D, 1, p)
    comb.add(u)
    w_in2, w_out2 = w_in.copy(), w_out.copy()
    comb.apply(w_in2, w_out2)
    after = _sgns_loss(w_in2, w_out2, pairs, negs)
    assert after < before - 0.05, (before, after)
    assert np.linalg.norm(w_in2 - w_in) > 0.1 * np.linalg.norm(w_in)


@pytest.mark.parametrize(
    "objective", [dict(sg=1, hs=0, negative=5), dict(sg=0, hs=1, negative=0)], ids=["skip-gram", "cbow-hs"]
)
def test_one_shard_one_round_trains_as_gensim_workers_1_bit_for_bit(corpus, objective):
    sents, counts = corpus
    p = _params(sync_rounds=1, epochs=3, **objective)
    w_in, w_out = avg.initial_weights(len(counts), p)
    trainer = ShardTrainer(counts, p, n_shards=1)
    update = trainer.train_round(sents, 0, w_in, w_out, shard_seed=0)
    ref = Word2Vec(
        vector_size=D,
        window=p.window,
        sg=p.sg,
        hs=p.hs,
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
    ref.random = np.random.RandomState(round_seed(p, 0, 0))
    ref.train([s.tolist() for s in sents], total_examples=len(sents), epochs=p.epochs)
    ref_out = ref.syn1neg if p.negative else ref.syn1
    # The shard's own model is gensim's, bit for bit.
    assert trainer.model.wv.vectors.tobytes() == ref.wv.vectors.tobytes()
    out = trainer.model.syn1neg if p.negative else trainer.model.syn1
    assert out.tobytes() == ref_out.tobytes()
    # Its change is exactly gensim's weights minus the start, on every row gensim changed and no other.
    changed = np.flatnonzero(np.any(ref.wv.vectors != w_in, axis=1) | np.any(ref_out != w_out, axis=1))
    assert update.rows.tolist() == changed.tolist()
    assert update.d_in.tobytes() == (ref.wv.vectors[changed] - w_in[changed]).tobytes()
    assert update.d_out.tobytes() == (ref_out[changed] - w_out[changed]).tobytes()
    # Applied to the global weights, it differs only by float32 rounding of w + (w' - w) != w'.
    comb = avg.Combiner(len(counts), D, 1, p)
    comb.add(update)
    comb.apply(w_in, w_out)
    assert np.array_equal(w_out, ref_out)  # starts at zero, so exact
    assert np.abs(w_in - ref.wv.vectors).max() <= 4 * np.finfo(np.float32).eps * max(1.0, np.abs(w_in).max())
    assert np.abs(w_in - avg.initial_weights(len(counts), p)[0]).max() > 1e-3  # it did train


def test_several_shards_and_rounds_repeat_bit_for_bit(corpus):
    sents, counts = corpus
    p = _params(sync_rounds=4, epochs=2)
    shards = _split(sents, 3)
    a = _train(shards, counts, p)
    b = _train(shards, counts, p)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    assert np.all(np.isfinite(a[0]))


def _upd(rows, d_in, d_out, updates=None):
    rows = np.asarray(rows, dtype=np.int32)
    d_in = np.asarray(d_in, dtype=np.float32)
    d_out = np.asarray(d_out, dtype=np.float32)
    upd = np.ones(len(rows), dtype=np.int32) if updates is None else np.asarray(updates, dtype=np.int32)
    return avg.ShardUpdate(rows=rows, d_in=d_in, d_out=d_out, updates=upd, words=int(upd.sum()))


def _combine(updates, n_shards, presummed: bool = False):
    p = _params(vector_size=2)
    comb = avg.Combiner(4, 2, n_shards, p)
    w_in = np.zeros((4, 2), np.float32)
    w_out = np.ones((4, 2), np.float32)
    if presummed:
        total = np.zeros((4, 2), np.float32), np.zeros((4, 2), np.float32)
        for u in updates:
            total[0][u.rows] += u.d_in
            total[1][u.rows] += u.d_out
        rows = np.arange(4, dtype=np.int32)
        comb.add(avg.ShardUpdate(rows, total[0], total[1], np.zeros(4, np.int32), 0), shards=len(updates))
    else:
        for u in updates:
            comb.add(u)
    comb.apply(w_in, w_out)
    return w_in, w_out - 1, comb


HAND = [
    # shard 0 changes rows 0 and 1; shard 1 changes rows 0 and 2; row 3 untouched
    _upd([0, 1], [[1, 0], [2, 2]], [[0, 1], [1, 0]]),
    _upd([0, 2], [[1, 0], [0, 4]], [[1, 0], [3, 3]]),
]


def test_shard_rate_is_capped_and_the_combiner_divides_the_summed_changes_by_it():
    p = _params(alpha=0.025, max_shard_alpha=0.1)
    assert avg.shard_alpha_scale(p, 1) == 1.0
    assert avg.shard_alpha_scale(p, 2) == 2.0
    assert avg.shard_alpha_scale(p, 8) == pytest.approx(4.0)  # capped at 0.1 / 0.025
    assert ShardTrainer(np.array([3, 2, 1]), p, n_shards=8).alpha_scale == pytest.approx(4.0)
    w_in, d_out, _ = _combine(HAND, 2)
    assert w_in.tolist() == [[1, 0], [1, 1], [0, 2], [0, 0]]  # sum / 2 at P=2
    assert d_out.tolist() == [[0.5, 0.5], [0.5, 0], [1.5, 1.5], [0, 0]]
    ups = [_upd([0], [[8, 0]], [[0, 0]]) for _ in range(8)]
    w_in, _, _ = _combine(ups, 8)
    assert w_in[0].tolist() == [16, 0]  # sum 64 / scale 4


def test_combiner_takes_presummed_shards_as_the_same_change_and_resets():
    one_by_one = _combine(HAND, 2)
    presummed = _combine(HAND, 2, presummed=True)
    assert one_by_one[0].tobytes() == presummed[0].tobytes() and one_by_one[1].tobytes() == presummed[1].tobytes()
    comb = one_by_one[2]
    assert not np.any(comb.sum_in) and not np.any(comb.sum_out) and comb.n_added == 0
    w = np.zeros((4, 2), np.float32)
    comb.add(HAND[0])
    with pytest.raises(RuntimeError):
        comb.apply(w, w.copy())


def test_hierarchical_softmax_trains_the_output_rows(corpus):
    sents, counts = corpus
    p = _params(hs=1, negative=0, sync_rounds=2, epochs=1)
    w_in, w_out = _train(_split(sents, 2), counts, p)
    assert np.any(w_out) and np.all(np.isfinite(w_in))


def test_driver_memory_bound_covers_what_a_round_really_allocates_and_is_not_loose():
    vocab, p = 20_000, _params(vector_size=50)
    bound = avg.memory_bound_bytes(vocab, p)
    # A round's change at its largest (every row changed), as the driver collects it: summed blocks in Arrow.
    rng = np.random.default_rng(0)
    full = avg.ShardUpdate(
        rows=np.arange(vocab, dtype=np.int32),
        d_in=rng.random((vocab, p.vector_size), np.float32),
        d_out=rng.random((vocab, p.vector_size), np.float32),
        updates=np.ones(vocab, np.int32),
        words=1,
    )
    assert bound["update"] == full.rows.nbytes + full.d_in.nbytes + full.d_out.nbytes + full.updates.nbytes
    records = pa.Table.from_batches(list(wire.shard_records(0, full, vocab)))
    n_blocks = -(-vocab // wire.BLOCK_ROWS)
    collected = pa.concat_tables(
        wire.sum_task(vocab, p.vector_size)(records.filter(pa.compute.equal(records["block"], b)))
        for b in range(n_blocks)
    )
    del records, full
    arrow_bytes = collected.get_total_buffer_size()  # Arrow's own allocator: tracemalloc does not see it
    # What the driver's round loop does with it (gensim_avg.train_gensim), numpy's allocations traced.
    tracemalloc.start()
    try:
        w_in, w_out = avg.initial_weights(vocab, p)
        assert bound["weights"] == w_in.nbytes + w_out.nbytes
        combiner = avg.Combiner(vocab, p.vector_size, 4, p)
        change = wire.round_change(collected, p.vector_size)
        del collected
        combiner.add(change, shards=4)
        combiner.apply(w_in, w_out)
        assert np.isfinite(w_in).all()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.8 * bound["driver"] < peak + arrow_bytes <= bound["driver"]
