"""Synchronised parameter averaging of gensim word2vec trained per data shard.

Pure numpy + gensim core (no Spark): every shard trains gensim's own Cython kernels from the
same global weights for one *round*, returns its sparse change (:class:`ShardUpdate`), and a
:class:`Combiner` folds the shards' changes into the global weights. ``params.sync_rounds``
rounds cover ``params.epochs`` passes over the data, with one global linear learning-rate
schedule (``alpha`` -> ``min_alpha``) over all rounds.

Vocabulary keys are the ints ``0..V-1`` with ``counts`` sorted descending (index == key), so
sentences are int arrays and the same row means the same word everywhere.

Combine rules (``GensimParams.combine``), with ``d_i`` shard ``i``'s change of one row and
``P`` shards:

``"sum"``
    ``sum_i d_i``. Right for words a shard saw a few times; overshoots (by up to ``P``) for
    frequent words that every shard moved to the same place.
``"mean"``
    ``sum_i d_i / P``. Right for frequent words; divides the step of rare words by ``P``.
``"touched"``
    ``sum_i d_i / (shards that changed the row)``, counted per matrix (Spark MLlib's rule).
``"align"``
    ``sum_i d_i / max(1, |sum_i d_i|^2 / sum_i |d_i|^2)``: mean when the changes agree, sum
    when they are orthogonal.
``"lrmean"``
    Shards train with learning rate ``alpha(t) * P`` (capped at ``max_shard_alpha``) and the
    changes are summed and divided by the same factor. For a word a shard sees rarely, this is
    ``sum`` at the true learning rate (the linear-scaling rule of large-batch SGD); for a word
    every shard sees often, each shard's change already reaches the word's local equilibrium
    and the division averages the ``P`` estimates instead of adding them. This is the default.

Measured on GCIDE (5.4M words, V=46,618 at min_count 5; skip-gram, negative 5, 100 dims,
window 5, 5 epochs, sample 1e-3), WS-353 Spearman: single-process gensim 0.538 / 0.543
(seeds 1 / 2); ``"lrmean"`` with 25 rounds 0.555 / 0.553 at 2 shards, 0.561 / 0.551 at 8
shards; at 8 shards and 25 rounds ``"sum"`` 0.056, ``"mean"`` 0.138, ``"align"`` 0.403.

Any rule may be followed by block momentum (``block_momentum`` > 0, BMUF, Chen and Huo 2016):
the combined change ``g`` becomes ``m <- eta * m + g`` and the weights move by ``m``, where
``m`` lives in the :class:`Combiner` across rounds.

Determinism: shard training calls gensim's ``train_batch_sg``/``train_batch_cbow`` directly in
the calling thread (no gensim worker threads), with gensim's batching and learning-rate rule,
and reseeds gensim's RNG (``model.random``, used for subsampling, window shrinking and negative
draws) from ``(params.seed, shard_seed, round_index)`` at the start of every round. Results are
then a pure function of the inputs on one machine and build. With one shard and one round,
training equals plain ``gensim.models.Word2Vec.train`` with ``workers=1`` bit for bit when
gensim's RNG is seeded the same (see :func:`round_seed`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from gensim.models import Word2Vec
from gensim.models.word2vec_inner import MAX_WORDS_IN_BATCH, train_batch_cbow, train_batch_sg

__all__ = [
    "COMBINE_RULES",
    "Combiner",
    "GensimParams",
    "ShardTrainer",
    "ShardUpdate",
    "initial_weights",
    "memory_bound_bytes",
    "round_bounds",
    "round_seed",
    "default_sync_rounds",
    "shard_alpha_scale",
    "shard_of",
    "train_in_process",
]

COMBINE_RULES = ("sum", "mean", "touched", "align", "lrmean")
#: Rules whose combined change is a fixed multiple of the summed changes: shards may be summed before the driver.
LINEAR_RULES = ("sum", "mean", "lrmean")

_REAL = np.float32


@dataclass(frozen=True)
class GensimParams:
    """Training settings; the first block uses gensim's own names and meanings.

    Parameters
    ----------
    vector_size : int
        Dimensions ``D`` (>= 1).
    window : int
        Maximum context distance (>= 1); gensim shrinks it randomly per word.
    sg : int
        1 = skip-gram, 0 = CBOW.
    hs : int
        1 = hierarchical softmax (then ``negative`` must be 0).
    negative : int
        Negative samples per positive pair (0 with ``hs=1``).
    sample : float
        Subsampling threshold for frequent words (0 = off), applied with the *global* counts.
    alpha, min_alpha : float
        Learning rate at the start and end of the whole training (linear in between).
    epochs : int
        Passes over the data, summed over all rounds (>= 1).
    ns_exponent : float
        Exponent of the negative-sampling distribution over counts.
    cbow_mean : int
        1 = CBOW averages the context vectors, 0 = sums them.
    seed : int
        Seed of the initial weights and (mixed with shard and round) of gensim's RNG.
    sync_rounds : int
        Synchronisation rounds over the whole training (>= 1). Default 25; the Spark backend
        chooses :func:`default_sync_rounds` unless the user sets them.
    combine : str
        One of :data:`COMBINE_RULES`.
    max_shard_alpha : float
        Cap of the shard learning rate for ``"lrmean"``: the factor is
        ``min(P, max(1, max_shard_alpha / alpha))``. Default 0.1 (factor <= 4 at alpha 0.025).
        Uncapped at 8 shards (shard alpha 0.2) gave higher WS-353 on GCIDE (0.580 vs 0.561) but
        lower analogy accuracy (0.169 vs 0.190); the cap keeps shard rates near gensim's usual range.
    block_momentum : float
        BMUF block momentum ``eta`` in ``[0, 1)``; 0 = off.
    round_power : float
        Shape of the round boundaries: round ``r`` of ``R`` ends at fraction
        ``((r + 1) / R) ** round_power`` of the training; 1 = equal rounds, > 1 = short early
        rounds (when the learning rate is high) and long late ones.
    batch_words : int
        Words per gensim batch (gensim's ``batch_words``); the learning rate is updated per batch.
    shrink_windows : bool
        gensim's ``shrink_windows``.
    """

    vector_size: int = 100
    window: int = 5
    sg: int = 1
    hs: int = 0
    negative: int = 5
    sample: float = 1e-3
    alpha: float = 0.025
    min_alpha: float = 0.0001
    epochs: int = 5
    ns_exponent: float = 0.75
    cbow_mean: int = 1
    seed: int = 1
    sync_rounds: int = 25
    combine: str = "lrmean"
    max_shard_alpha: float = 0.1
    block_momentum: float = 0.0
    round_power: float = 1.0
    batch_words: int = MAX_WORDS_IN_BATCH
    shrink_windows: bool = True

    def __post_init__(self) -> None:
        if self.combine not in COMBINE_RULES:
            raise ValueError(f"combine must be one of {COMBINE_RULES}, got {self.combine!r}")
        if bool(self.hs) == bool(self.negative):
            # One output matrix per model keeps the update format simple; gensim allows both at once.
            raise ValueError("exactly one of hs=1 or negative>0 is supported")
        if self.sync_rounds < 1 or self.epochs < 1:
            raise ValueError("sync_rounds and epochs must be >= 1")
        if not 0.0 <= self.block_momentum < 1.0:
            raise ValueError("block_momentum must be in [0, 1)")
        if self.round_power <= 0:
            raise ValueError("round_power must be > 0")


@dataclass
class ShardUpdate:
    """One shard's change in one round; sparse over the rows the shard changed.

    Attributes
    ----------
    rows : np.ndarray
        int32 row ids (== word ids), sorted ascending, unique.
    d_in : np.ndarray
        ``len(rows) x D`` float32 change of the input vectors (``wv.vectors``).
    d_out : np.ndarray
        ``len(rows) x D`` float32 change of the output weights (``syn1neg`` or ``syn1``).
    updates : np.ndarray
        int32 per row: occurrences of the word in the shard's data of this round (before
        subsampling); 0 for rows changed only as negative samples or tree nodes.
    words : int
        Raw words in the shard's data of this round (with repetition over epochs).
    """

    rows: np.ndarray
    d_in: np.ndarray
    d_out: np.ndarray
    updates: np.ndarray
    words: int

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (what a task ships back to the driver, before framing)."""
        return int(self.rows.nbytes + self.d_in.nbytes + self.d_out.nbytes + self.updates.nbytes)


def initial_weights(vocab_size: int, params: GensimParams) -> tuple[np.ndarray, np.ndarray]:
    """Initial global weights, the same values gensim 4.4 itself draws for ``seed``.

    Parameters
    ----------
    vocab_size : int
        ``V`` (>= 1).
    params : GensimParams
        Uses ``vector_size`` and ``seed``.

    Returns
    -------
    w_in : np.ndarray
        ``V x D`` float32, uniform in ``[-1, 1) / D`` from ``np.random.default_rng(seed)``
        (gensim 4's ``prep_vectors``).
    w_out : np.ndarray
        ``V x D`` float32 zeros. gensim's ``syn1neg`` and ``syn1`` (hierarchical softmax, one
        row per word though only ``V - 1`` inner nodes are used) both have this shape.
    """
    d = params.vector_size
    rng = np.random.default_rng(seed=params.seed)
    w_in = rng.random((vocab_size, d), dtype=_REAL)
    w_in *= 2.0
    w_in -= 1.0
    w_in /= d
    return w_in, np.zeros((vocab_size, d), dtype=_REAL)


def shard_of(n_sentences: int, n_shards: int, seed: int) -> np.ndarray:
    """Deterministic shard of each sentence position: a splitmix64 hash of ``(position, seed)`` mod ``P``.

    Parameters
    ----------
    n_sentences : int
        Sentences in the corpus.
    n_shards : int
        ``P`` (>= 1).
    seed : int
        Any int; mixed into the hash.

    Returns
    -------
    np.ndarray
        int64 shard id in ``[0, P)`` per sentence position.
    """
    with np.errstate(over="ignore"):
        z = np.arange(n_sentences, dtype=np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(n_shards)).astype(np.int64)


def round_seed(params: GensimParams, shard_seed: int, round_index: int) -> int:
    """Seed (uint32) of gensim's ``model.random`` for one shard's round."""
    return int(
        np.random.SeedSequence([params.seed & 0xFFFFFFFF, shard_seed & 0xFFFFFFFF, round_index]).generate_state(1)[0]
    )


def round_bounds(n_stream: int, params: GensimParams) -> np.ndarray:
    """Stream positions where the rounds start and end.

    Parameters
    ----------
    n_stream : int
        Sentences in a shard times ``epochs`` (the shard's data repeated once per epoch).
    params : GensimParams
        Uses ``sync_rounds`` and ``round_power``.

    Returns
    -------
    np.ndarray
        int64, length ``sync_rounds + 1``, from 0 to ``n_stream``, non-decreasing; round ``r``
        trains stream positions ``[b[r], b[r+1])``.
    """
    frac = (np.arange(params.sync_rounds + 1, dtype=np.float64) / params.sync_rounds) ** params.round_power
    b = np.floor(frac * n_stream + 1e-9).astype(np.int64)
    b[-1] = n_stream
    return b


def default_sync_rounds(epochs: int, n_shards: int) -> int:
    """Rounds when the user sets none: ``min(P, 5)`` a epoch.

    Shards drift apart between synchronisations the more of them there are, and every round costs a fixed overhead
    (a Spark job, shipping the weights). Measured on GCIDE (5 epochs, bench/RESULTS.md): 8 shards need 25 rounds
    (WS-353 0.513 at 10 rounds, 0.546 at 25), 2 shards do as well with 10 (0.547) as with 25 (0.551) and save a
    fifth of the time; one shard is plain gensim, whatever the rounds.
    """
    return epochs * min(max(n_shards, 1), 5)


def shard_alpha_scale(params: GensimParams, n_shards: int) -> float:
    """Factor on the learning rate inside shards (1 except for ``"lrmean"``).

    The combiner divides the summed changes by the same factor, so for rarely seen words the
    effective learning rate stays ``alpha(t)``.
    """
    if params.combine != "lrmean" or n_shards <= 1:
        return 1.0
    return float(max(1.0, min(float(n_shards), params.max_shard_alpha / params.alpha)))


def _quiet_gensim() -> None:
    # build_vocab logs at INFO per call; a task builds one skeleton per process, but the logs are noise.
    logging.getLogger("gensim.models.word2vec").setLevel(logging.WARNING)


class ShardTrainer:
    """gensim skeleton for one ``(counts, params)``, reused across rounds and shards.

    Build it once per worker process (it allocates two ``V x D`` float32 arrays plus gensim's
    tables, a few ms per 10k words) and call :meth:`train_round` for every shard and round.

    Parameters
    ----------
    counts : np.ndarray
        Global corpus count of each word id ``0..V-1`` (>= 1), sorted descending. They set the
        subsampling probabilities and the negative-sampling table (or Huffman tree for hs)
        identically on every shard.
    params : GensimParams
        Settings.
    n_shards : int
        ``P`` of the run (>= 1), keyword-only and required: the ``"lrmean"`` rule trains shards
        with learning rate ``alpha(t) * shard_alpha_scale(params, P)``, and the :class:`Combiner`
        divides by the same factor, so both must see the same ``P``.
    """

    def __init__(self, counts: np.ndarray, params: GensimParams, *, n_shards: int) -> None:
        _quiet_gensim()
        counts = np.asarray(counts)
        if counts.ndim != 1 or len(counts) == 0 or counts.min() < 1:
            raise ValueError("counts must be a non-empty 1-D array of counts >= 1")
        if np.any(np.diff(counts) > 0):
            raise ValueError("counts must be sorted descending (index == key == frequency rank)")
        self.params = params
        self.n_shards = int(n_shards)
        self.alpha_scale = shard_alpha_scale(params, self.n_shards)
        self.vocab_size = len(counts)
        model = Word2Vec(
            vector_size=params.vector_size,
            window=params.window,
            sg=params.sg,
            hs=params.hs,
            negative=params.negative,
            sample=params.sample,
            alpha=params.alpha,
            min_alpha=params.min_alpha,
            epochs=params.epochs,
            ns_exponent=params.ns_exponent,
            cbow_mean=params.cbow_mean,
            seed=params.seed,
            workers=1,
            min_count=1,
            batch_words=params.batch_words,
            shrink_windows=params.shrink_windows,
            # sorted_vocab=0: gensim's sort breaks count ties by *descending* insertion index, which
            # would permute equal-count words; unsorted keeps index == key.
            sorted_vocab=0,
        )
        model.build_vocab_from_freq({i: int(c) for i, c in enumerate(counts.tolist())})
        if model.wv.index_to_key != list(range(self.vocab_size)):
            raise AssertionError("gensim did not keep the vocabulary order index == key")
        self.model = model
        self._out_name = "syn1neg" if params.negative else "syn1"
        self._work = np.zeros(params.vector_size, dtype=_REAL)
        self._neu1 = np.zeros(params.vector_size, dtype=_REAL)
        self._batch = train_batch_sg if params.sg else train_batch_cbow

    def _train_batch(self, batch: list[list[int]], alpha: float) -> int:
        if self.params.sg:
            return train_batch_sg(self.model, batch, alpha, self._work, False)
        return train_batch_cbow(self.model, batch, alpha, self._work, self._neu1, False)

    def _alpha(self, pushed: int, n: int, epoch: int) -> float:
        # gensim's Word2Vec._get_next_alpha with examples-based progress, written the same way so
        # that one shard and one round reproduce gensim's floats exactly.
        p = self.params
        progress = (epoch + 1.0 * pushed / n) / p.epochs
        return max(p.min_alpha, p.alpha - (p.alpha - p.min_alpha) * progress)

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
            The shard's whole data (all rounds), int word ids in ``[0, V)``, in a fixed order.
            The shard's stream is this sequence repeated ``epochs`` times; round ``r`` trains the
            slice :func:`round_bounds` gives, so a round may cover part of an epoch or several.
            Sentences longer than 10,000 words are cut by gensim's kernel.
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
        b = round_bounds(n * p.epochs, p)
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
        # gensim's _job_producer: fill a batch while it stays <= batch_words, the learning rate of
        # a batch is the one at its first sentence.
        scale = self.alpha_scale
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
                    self._train_batch(batch, alpha * scale)
                pushed += len(batch)
                alpha = self._alpha(pushed, n, epoch)
                batch, size = [sent], ln
        if batch:
            self._train_batch(batch, alpha * scale)


class Combiner:
    """Streaming combination of the shards' changes into the global weights.

    Parameters
    ----------
    vocab_size : int
        ``V``.
    vector_size : int
        ``D``.
    n_shards : int
        ``P`` (>= 1), the number of :meth:`add` calls per round.
    params : GensimParams
        Uses ``combine``, ``block_momentum`` and (for ``"lrmean"``) ``alpha``, ``max_shard_alpha``.

    Notes
    -----
    Memory: two ``V x D`` float32 accumulators, plus two more with block momentum, plus
    ``O(V)`` per-row statistics. Shards must be added in the same order every run for results
    to be reproducible bit for bit (float32 addition is not associative).
    """

    def __init__(self, vocab_size: int, vector_size: int, n_shards: int, params: GensimParams) -> None:
        self.vocab_size = vocab_size
        self.vector_size = vector_size
        self.n_shards = int(n_shards)
        self.params = params
        self.rule = params.combine
        self.scale = shard_alpha_scale(params, self.n_shards)
        self.sum_in = np.zeros((vocab_size, vector_size), dtype=_REAL)
        self.sum_out = np.zeros((vocab_size, vector_size), dtype=_REAL)
        # Shards that changed each row, per matrix: with negative sampling nearly every shard changes
        # nearly every output row, while an input row changes only where the word occurs.
        self.touched_in = np.zeros(vocab_size, dtype=np.int32)
        self.touched_out = np.zeros(vocab_size, dtype=np.int32)
        self.updates = np.zeros(vocab_size, dtype=np.int64)
        # Sum over shards of each row's squared change (input and output), for "align".
        self.sq_in = np.zeros(vocab_size, dtype=np.float64) if self.rule == "align" else None
        self.sq_out = np.zeros(vocab_size, dtype=np.float64) if self.rule == "align" else None
        self.mom_in: np.ndarray | None = None
        self.mom_out: np.ndarray | None = None
        if params.block_momentum > 0:
            self.mom_in = np.zeros((vocab_size, vector_size), dtype=_REAL)
            self.mom_out = np.zeros((vocab_size, vector_size), dtype=_REAL)
        self.n_added = 0
        self.words = 0
        self.rounds_applied = 0

    def add(self, update: ShardUpdate, shards: int = 1) -> None:
        """Accumulate one shard's change; call once per shard per round, in shard order.

        ``shards > 1``: ``update`` is already the sum of that many shards' changes (summed in shard order), which
        only the linear rules (``sum``, ``mean``, ``lrmean``) can combine.
        """
        if shards > 1 and self.rule not in LINEAR_RULES:
            raise ValueError(f"rule {self.rule!r} needs every shard's change; it cannot take a pre-summed one")
        r = update.rows
        self.sum_in[r] += update.d_in
        self.sum_out[r] += update.d_out
        if self.rule == "touched":
            self.touched_in[r] += np.any(update.d_in != 0, axis=1)
            self.touched_out[r] += np.any(update.d_out != 0, axis=1)
        self.updates[r] += update.updates
        if self.sq_in is not None:
            self.sq_in[r] += np.einsum("ij,ij->i", update.d_in, update.d_in, dtype=np.float64)
            self.sq_out[r] += np.einsum("ij,ij->i", update.d_out, update.d_out, dtype=np.float64)
        self.n_added += shards
        self.words += update.words

    def _row_factor(self, summed: np.ndarray, sq: np.ndarray | None, touched: np.ndarray) -> np.ndarray | float:
        rule = self.rule
        if rule == "sum":
            return 1.0
        if rule == "mean":
            return 1.0 / self.n_shards
        if rule == "lrmean":
            return 1.0 / self.scale
        if rule == "touched":
            return (1.0 / np.maximum(touched, 1)).astype(_REAL)[:, None]
        # align: ratio = |sum d|^2 / sum |d|^2 is P when all changes agree, ~1 when independent.
        tot = np.einsum("ij,ij->i", summed, summed, dtype=np.float64)
        ratio = np.where(sq > 0, tot / np.maximum(sq, 1e-300), 1.0)
        return (1.0 / np.maximum(1.0, ratio)).astype(_REAL)[:, None]

    def apply(self, w_in: np.ndarray, w_out: np.ndarray) -> None:
        """Apply the round's combined change to ``w_in``/``w_out`` in place and reset the accumulators."""
        if self.n_added != self.n_shards:
            raise RuntimeError(f"apply() after {self.n_added} add() calls, expected {self.n_shards}")
        for summed, sq, touched, w, mom in (
            (self.sum_in, self.sq_in, self.touched_in, w_in, self.mom_in),
            (self.sum_out, self.sq_out, self.touched_out, w_out, self.mom_out),
        ):
            f = self._row_factor(summed, sq, touched)
            if not (isinstance(f, float) and f == 1.0):
                summed *= f
            if mom is not None:
                mom *= _REAL(self.params.block_momentum)
                mom += summed
                w += mom
            else:
                w += summed
            summed.fill(0.0)
            if sq is not None:
                sq.fill(0.0)
        self.touched_in.fill(0)
        self.touched_out.fill(0)
        self.updates.fill(0)
        self.n_added = 0
        self.words = 0
        self.rounds_applied += 1


def memory_bound_bytes(vocab_size: int, params: GensimParams, n_shards: int) -> dict[str, int]:
    """Upper bounds of the bytes the weights and updates need, to refuse large vocabularies early.

    Parameters
    ----------
    vocab_size : int
        ``V``.
    params : GensimParams
        Uses ``vector_size``, ``combine``, ``block_momentum``.
    n_shards : int
        ``P``.

    Returns
    -------
    dict[str, int]
        ``weights``: one copy of ``w_in`` + ``w_out``; ``update``: one :class:`ShardUpdate` at
        its largest (every row changed); ``driver``: global weights + combiner state + one update
        in flight; ``task``: broadcast weights + the gensim skeleton's own two matrices and
        tables + the two dense differences + one update (the shard's sentences not included).
    """
    d = params.vector_size
    mat = vocab_size * d * 4
    weights = 2 * mat
    update = 2 * mat + vocab_size * 8
    combiner = 2 * mat + vocab_size * (4 + 8 + (16 if params.combine == "align" else 0))
    if params.block_momentum > 0:
        combiner += 2 * mat
    driver = weights + combiner + update
    # gensim tables: cum_table (uint32) or Huffman codes/points (~ 2 * 40 bytes a word), counts,
    # sample_int and the key dicts (~ 150 bytes a word in CPython).
    skeleton = 2 * mat + vocab_size * 250
    task = weights + skeleton + 2 * mat + update
    return {"weights": weights, "update": update, "driver": driver, "task": task}


def train_in_process(
    sentences_per_shard: list[list[np.ndarray]],
    counts: np.ndarray,
    params: GensimParams,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the whole round loop serially in this process: the same maths the Spark job does.

    Parameters
    ----------
    sentences_per_shard : list of list of np.ndarray
        Shard ``i``'s sentences (int word ids) in order; ``P = len(sentences_per_shard)``.
    counts : np.ndarray
        Global counts of word ids ``0..V-1``, sorted descending.
    params : GensimParams
        Settings.
    init : tuple of np.ndarray, optional
        Initial ``(w_in, w_out)``; default :func:`initial_weights`. Copied, never modified.

    Returns
    -------
    tuple of np.ndarray
        Final ``(w_in, w_out)``, ``V x D`` float32.
    """
    n_shards = len(sentences_per_shard)
    v = len(counts)
    w_in, w_out = initial_weights(v, params) if init is None else (init[0].copy(), init[1].copy())
    trainer = ShardTrainer(counts, params, n_shards=n_shards)
    combiner = Combiner(v, params.vector_size, n_shards, params)
    for r in range(params.sync_rounds):
        for i, sents in enumerate(sentences_per_shard):
            combiner.add(trainer.train_round(sents, r, w_in, w_out, shard_seed=i))
        combiner.apply(w_in, w_out)
    return w_in, w_out
