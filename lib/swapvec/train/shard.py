"""One shard's training for one round: gensim's own Cython kernels, from the global weights, returning the change.

Determinism: with ``threads=1`` (the default) shard training calls gensim's ``train_batch_sg``/``train_batch_cbow``
directly in the calling thread, with gensim's batching and learning-rate rule, and reseeds gensim's RNG
(``model.random``, used for subsampling, window shrinking and negative draws) from ``(params.seed, shard_seed,
round_index)`` at the start of every round. Results are then a pure function of the inputs on one machine and
build. With one shard and one round, the trained weights equal plain ``gensim.models.Word2Vec.train`` with
``workers=1`` bit for bit when gensim's RNG is seeded the same (see :func:`round_seed`).

With ``threads > 1`` the batches of a round are trained by that many threads on the one model, without locks, as
gensim's own ``workers`` do (the kernels release the GIL): faster, and as good, but the order in which threads
touch a row varies from run to run, so the vectors are no longer bit-reproducible.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from gensim.models import Word2Vec

from swapvec.train.averaging import GensimParams, ShardUpdate, shard_alpha_scale
from swapvec.train.internals import train_batch_cbow, train_batch_sg

__all__ = ["ShardTrainer", "round_bounds", "round_seed"]

_REAL = np.float32


def round_seed(params: GensimParams, shard_seed: int, round_index: int) -> int:
    """Seed (uint32) of gensim's ``model.random`` for one shard's round."""
    return int(
        np.random.SeedSequence([params.seed & 0xFFFFFFFF, shard_seed & 0xFFFFFFFF, round_index]).generate_state(1)[0]
    )


def round_bounds(n_stream: int, params: GensimParams) -> np.ndarray:
    """Stream positions where the rounds start and end: equal rounds.

    Parameters
    ----------
    n_stream : int
        Sentences in a shard times ``epochs`` (the shard's data repeated once per epoch).
    params : GensimParams
        Uses ``sync_rounds``.

    Returns
    -------
    np.ndarray
        int64, length ``sync_rounds + 1``, from 0 to ``n_stream``, non-decreasing; round ``r`` trains stream
        positions ``[b[r], b[r+1])``.
    """
    frac = np.arange(params.sync_rounds + 1, dtype=np.float64) / params.sync_rounds
    b = np.floor(frac * n_stream + 1e-9).astype(np.int64)
    b[-1] = n_stream
    return b


def _quiet_gensim() -> None:
    # build_vocab logs at INFO per call; a task builds one skeleton per process, but the logs are noise.
    logging.getLogger("gensim.models.word2vec").setLevel(logging.WARNING)


class ShardTrainer:
    """gensim skeleton for one ``(counts, params)``, reused across rounds and shards.

    Build it once per worker process (it allocates two ``V x D`` float32 arrays plus gensim's tables, a few ms per
    10k words) and call :meth:`train_round` for every shard and round.

    Parameters
    ----------
    counts : np.ndarray
        Global corpus count of each word id ``0..V-1`` (>= 1), sorted descending. They set the subsampling
        probabilities and the negative-sampling table (or Huffman tree for hs) identically on every shard.
    params : GensimParams
        Settings.
    n_shards : int
        ``P`` of the run (>= 1), keyword-only and required: shards train with learning rate
        ``alpha(t) * shard_alpha_scale(params, P)`` and ``averaging.Combiner`` divides by the same factor, so both
        must see the same ``P``.
    threads : int
        Threads training the shard's batches at once (>= 1); above 1 results are not bit-reproducible (module
        docstring).
    """

    def __init__(self, counts: np.ndarray, params: GensimParams, *, n_shards: int, threads: int = 1) -> None:
        _quiet_gensim()
        counts = np.asarray(counts)
        if counts.ndim != 1 or len(counts) == 0 or counts.min() < 1:
            raise ValueError("counts must be a non-empty 1-D array of counts >= 1")
        if np.any(np.diff(counts) > 0):
            raise ValueError("counts must be sorted descending (index == key == frequency rank)")
        if threads < 1:
            raise ValueError("threads must be >= 1")
        self.params = params
        self.threads = int(threads)
        self.n_shards = int(n_shards)
        self.alpha_scale = shard_alpha_scale(params, self.n_shards)
        self.vocab_size = len(counts)
        model = Word2Vec(
            **params.word2vec_settings(),
            workers=1,
            min_count=1,
            # sorted_vocab=0: gensim's sort breaks count ties by *descending* insertion index, which
            # would permute equal-count words; unsorted keeps index == key.
            sorted_vocab=0,
        )
        model.build_vocab_from_freq({i: int(c) for i, c in enumerate(counts.tolist())})
        if model.wv.index_to_key != list(range(self.vocab_size)):
            raise AssertionError("gensim did not keep the vocabulary order index == key")
        self.model = model
        self._out_name = "syn1neg" if params.negative else "syn1"
        # The kernels' scratch rows: one pair per thread.
        self._buffers = threading.local()

    def _train_batch(self, batch: list[list[int]], alpha: float) -> int:
        buf = self._buffers
        if not hasattr(buf, "work"):
            buf.work = np.zeros(self.params.vector_size, dtype=_REAL)
            buf.neu1 = np.zeros(self.params.vector_size, dtype=_REAL)
        if self.params.sg:
            return train_batch_sg(self.model, batch, alpha, buf.work, False)
        return train_batch_cbow(self.model, batch, alpha, buf.work, buf.neu1, False)

    def _alpha(self, pushed: int, n: int, epoch: int) -> float:
        # gensim's Word2Vec._get_next_alpha with examples-based progress, written the same way so
        # that one shard and one round reproduce gensim's floats exactly.
        p = self.params
        progress = (epoch + 1.0 * pushed / n) / p.epochs
        return max(p.min_alpha, p.alpha - (p.alpha - p.min_alpha) * progress)

    def _round_bounds(self, n_stream: int) -> np.ndarray:
        # A seam for a research harness that tries rounds of other shapes by overriding it.
        return round_bounds(n_stream, self.params)

    def train_round(
        self,
        sentences: Sequence[np.ndarray],
        round_index: int,
        w_in: np.ndarray,
        w_out: np.ndarray,
        shard_seed: int,
    ) -> ShardUpdate:
        """Train one shard for one round from the global weights and return its change.

        Parameters
        ----------
        sentences : sequence of np.ndarray
            The shard's whole data (all rounds), int word ids in ``[0, V)``, in a fixed order. The shard's stream is
            this sequence repeated ``epochs`` times; round ``r`` trains the slice :func:`round_bounds` gives, so a
            round may cover part of an epoch or several. Sentences longer than 10,000 words are cut by gensim's
            kernel.
        round_index : int
            ``0 <= round_index < params.sync_rounds``.
        w_in, w_out : np.ndarray
            Global ``V x D`` float32 weights; only read.
        shard_seed : int
            Distinct per shard (e.g. the shard index); seeds gensim's RNG with the round.

        Returns
        -------
        ShardUpdate
            Change of every row the shard changed; deterministic for
            ``(sentences, round_index, w_in, w_out, shard_seed)``.
        """
        p = self.params
        if not 0 <= round_index < p.sync_rounds:
            raise ValueError(f"round_index {round_index} outside [0, {p.sync_rounds})")
        model = self.model
        v_in = model.wv.vectors
        v_out = getattr(model, self._out_name)
        np.copyto(v_in, w_in)
        np.copyto(v_out, w_out)
        model.random = np.random.RandomState(round_seed(p, shard_seed, round_index))

        n = len(sentences)
        b = self._round_bounds(n * p.epochs)
        start, stop = int(b[round_index]), int(b[round_index + 1])
        occ = np.zeros(self.vocab_size, dtype=np.int64)
        words = 0
        k = start
        while k < stop:
            # One segment = the part of one epoch inside this round; gensim restarts batching per epoch.
            epoch, pos = divmod(k, n)
            seg_stop = min(stop, (epoch + 1) * n)
            seg = [sentences[i] for i in range(pos, pos + seg_stop - k)]
            if seg:
                flat = np.concatenate(seg)
                occ += np.bincount(flat, minlength=self.vocab_size)
                words += int(flat.size)
            self._train_segment([s.tolist() for s in seg], pos, n, epoch)
            k = seg_stop

        d_in = v_in - w_in
        d_out = v_out - w_out
        changed = np.any(d_in != 0, axis=1) | np.any(d_out != 0, axis=1)
        rows = np.flatnonzero(changed).astype(np.int32)
        return ShardUpdate(
            rows=rows, d_in=d_in[rows], d_out=d_out[rows], updates=occ[rows].astype(np.int32), words=words
        )

    def _train_segment(self, seg: list[list[int]], pos0: int, n: int, epoch: int) -> None:
        scale = self.alpha_scale
        if self.threads == 1:
            for batch, alpha in self._batches(seg, pos0, n, epoch):
                self._train_batch(batch, alpha * scale)
            return
        with ThreadPoolExecutor(self.threads, thread_name_prefix="swapvec-shard") as pool:
            # Lazily, a few batches ahead of the threads: the segment's batches are not all queued at once.
            pending: deque[Future[int]] = deque()
            for batch, alpha in self._batches(seg, pos0, n, epoch):
                pending.append(pool.submit(self._train_batch, batch, alpha * scale))
                if len(pending) >= 2 * self.threads:
                    pending.popleft().result()
            for done in pending:
                done.result()

    def _batches(self, seg: list[list[int]], pos0: int, n: int, epoch: int) -> Iterator[tuple[list[list[int]], float]]:
        # gensim's _job_producer: fill a batch while it stays <= batch_words, the learning rate of
        # a batch is the one at its first sentence.
        batch: list[list[int]] = []
        size = 0
        pushed = pos0
        alpha = self._alpha(pushed, n, epoch)
        for sent in seg:
            ln = len(sent)
            if size + ln <= self.params.batch_words:
                batch.append(sent)
                size += ln
            else:
                if batch:
                    yield batch, alpha
                pushed += len(batch)
                alpha = self._alpha(pushed, n, epoch)
                batch, size = [sent], ln
        if batch:
            yield batch, alpha
