"""The gensim backend's formats: sentences encoded to packed ids (``encoding``), a round's change as raw bytes
summed block by block (``wire``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from swapvec.train import encoding, wire
from swapvec.train.averaging import ShardUpdate

WORDS = ["the", "cat", "sat", "mat", "café"]


def _batch(rows: list[tuple[int, list[str]]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {"shard": [r[0] for r in rows], "tokens": [r[1] for r in rows]},
        schema=pa.schema([("shard", pa.int32()), ("tokens", pa.list_(pa.string()))]),
    )


def test_vocabulary_survives_the_transport_arrays():
    arrays = encoding.vocab_arrays(WORDS)
    assert all(a.dtype != object for a in arrays.values())  # np.save without pickle
    assert encoding.vocab_words(arrays).to_pylist() == WORDS
    # An Arrow column as the vocabulary table gives it: chunked, or a slice of a larger array, either string type.
    column = pa.array(["x", *WORDS, "y"], pa.string()).slice(1, len(WORDS))
    for words in (column, pa.chunked_array([column[:2], column[2:]]), column.cast(pa.large_string())):
        again = encoding.vocab_arrays(words)
        assert {k: v.tolist() for k, v in again.items()} == {k: v.tolist() for k, v in arrays.items()}


def test_encoding_drops_unknown_words_then_short_sentences():
    vocab = encoding.vocab_words(encoding.vocab_arrays(WORDS))
    batch = _batch([(0, ["the", "dog", "cat"]), (0, ["dog", "sat"]), (1, ["café", "mat", "zzz", "the"]), (1, [])])
    kept, ids, lengths = encoding.encode_tokens(batch.column("tokens"), vocab)
    assert kept.tolist() == [True, False, True, False]
    assert lengths.tolist() == [2, 3]
    assert ids.tolist() == [0, 1, 4, 3, 0]


@pytest.mark.parametrize(("part_ids", "lookup_tokens"), [(2, 1), (5, 3), (1 << 24, 1 << 22)])
def test_packed_parts_give_back_every_shard_in_order(monkeypatch, part_ids, lookup_tokens):
    monkeypatch.setattr(encoding, "PART_IDS", part_ids)  # small parts: a shard split over several cells
    monkeypatch.setattr(encoding, "ENCODE_TOKENS", lookup_tokens)  # and looked up in several calls
    rng = np.random.default_rng(0)
    sentences = {s: [list(rng.choice(WORDS, size=rng.integers(2, 6))) for _ in range(7)] for s in (0, 1, 2)}
    rows = [(s, sent) for s in sorted(sentences) for sent in sentences[s]]
    batches = [_batch(rows[i : i + 4]) for i in range(0, len(rows), 4)]  # a shard spans batches
    batches.insert(2, _batch([]))  # an empty batch among them
    parts = list(encoding._packed_parts(iter(batches), encoding.vocab_words(encoding.vocab_arrays(WORDS))))
    # One cell a shard when nothing needs splitting; more when a shard's ids exceed a part.
    assert len(parts) == 3 if part_ids == 1 << 24 else len(parts) > 3
    index = {w: i for i, w in enumerate(WORDS)}
    decoded = encoding.decode_shards(iter(parts[::-1]))
    got = {shard: [packed[i].tolist() for i in range(len(packed))] for shard, packed in decoded}
    assert got == {s: [[index[w] for w in sent] for sent in sents] for s, sents in sentences.items()}


def test_a_change_packs_to_bytes_and_back():
    rng = np.random.default_rng(1)
    rows = np.array([1, 4, 9], np.int32)
    d_in, d_out = rng.normal(size=(3, 5)).astype(np.float32), rng.normal(size=(3, 5)).astype(np.float32)
    updates = np.array([2, 0, 7], np.int32)
    back = wire.unpack_change(wire.pack_change(rows, d_in, d_out, updates), dim=5)
    for got, want in zip(back, (rows, d_in, d_out, updates), strict=True):
        np.testing.assert_array_equal(got, want)


def test_blocks_sum_in_shard_order_to_what_the_driver_would_have_summed(monkeypatch):
    monkeypatch.setattr(wire, "BLOCK_ROWS", 4)
    vocab, dim, rng = 10, 3, np.random.default_rng(2)
    updates = []
    for shard in range(3):
        rows = np.sort(rng.choice(vocab, size=6, replace=False)).astype(np.int32)
        updates.append(
            ShardUpdate(
                rows=rows,
                d_in=rng.normal(size=(6, dim)).astype(np.float32),
                d_out=rng.normal(size=(6, dim)).astype(np.float32),
                updates=rng.integers(0, 3, size=6).astype(np.int32),
                words=100 + shard,
            )
        )
    records = [batch for s, u in enumerate(updates) for batch in wire.shard_records(s, u, vocab)]
    assert len(records) == 3 * 3  # every shard sends every block, also an empty one
    table = pa.Table.from_batches(records[::-1], schema=wire.UPDATE_SCHEMA)  # arrival order must not matter
    summed = [wire.sum_task(vocab, dim)(table.filter(pa.compute.equal(table["block"], b))) for b in range(3)]
    change = wire.round_change(pa.concat_tables(summed[::-1]), dim)
    want_in, want_out = np.zeros((vocab, dim), np.float32), np.zeros((vocab, dim), np.float32)
    for u in updates:
        want_in[u.rows] += u.d_in
        want_out[u.rows] += u.d_out
    got_in, got_out = np.zeros_like(want_in), np.zeros_like(want_out)
    got_in[change.rows], got_out[change.rows] = change.d_in, change.d_out
    assert got_in.tobytes() == want_in.tobytes() and got_out.tobytes() == want_out.tobytes()
    assert change.words == 303
