"""The combine rules and round shapes the gensim backend was chosen among, on top of the product's averaging core.

The product (``swapvec.train.averaging`` and ``swapvec.train.shard``) runs one rule, ``lrmean``, with equal rounds.
This module adds what bench/averaging_rules.py compares it with (bench/RESULTS.md), with ``d_i`` shard ``i``'s change
of one row and ``P`` shards:

``"sum"``
    ``sum_i d_i``. Right for words a shard saw a few times; overshoots (by up to ``P``) for frequent words that
    every shard moved to the same place.
``"mean"``
    ``sum_i d_i / P``. Right for frequent words; divides the step of rare words by ``P``.
``"touched"``
    ``sum_i d_i / (shards that changed the row)``, counted per matrix (Spark MLlib's rule).
``"align"``
    ``sum_i d_i / max(1, |sum_i d_i|^2 / sum_i |d_i|^2)``: mean when the changes agree, sum when they are
    orthogonal.
``"lrmean"``
    The product's rule: shards train at ``alpha(t) * k`` and the summed changes are divided by ``k``
    (``swapvec.train.averaging.shard_alpha_scale``).
``"sat"``
    Shards train at ``alpha(t)``; each row's summed change is scaled by how saturated the row's updates are. If
    each of a word's ``n`` updates moves it a share ``a`` of the way to where the round's data pulls it, one
    process would move it ``1 - (1 - a)^n`` of the way; shard ``i`` moves it ``1 - (1 - a)^n_i``. The factor is
    ``(1 - (1 - a)^sum_i n_i) / sum_i (1 - (1 - a)^n_i)``: 1 (the sum) for words each shard saw a few times, ``1/P``
    (the mean) for words each shard saw often, and in between. ``n_i`` is the word's occurrences in shard ``i``'s
    data of the round, ``a = sat_beta * alpha(t)``; both sums are linear in the shards, so they could be summed on
    the executors as the changes are.

Any rule may be followed by block momentum (``block_momentum`` > 0, BMUF, Chen and Huo 2016): the combined change
``g`` becomes ``m <- eta * m + g`` and the weights move by ``m``, where ``m`` lives in the combiner across rounds.
Rounds may be shaped by ``round_power``: round ``r`` of ``R`` ends at fraction ``((r + 1) / R) ** round_power`` of
the training (1 = equal rounds, the product's; > 1 = short early rounds, when the learning rate is high).

:func:`train_in_process` runs the whole round loop serially in one process, the same maths as the Spark job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swapvec.train.averaging import Combiner, GensimParams, ShardUpdate, initial_weights, shard_alpha_scale
from swapvec.train.shard import ShardTrainer

COMBINE_RULES = ("sum", "mean", "touched", "align", "lrmean", "sat")
#: Rules whose combined change is a fixed multiple of the summed changes: shards may be summed before the driver.
LINEAR_RULES = ("sum", "mean", "lrmean")

_REAL = np.float32


@dataclass(frozen=True)
class ResearchParams(GensimParams):
    """The product's settings plus the research knobs.

    Parameters
    ----------
    combine : str
        One of :data:`COMBINE_RULES`.
    block_momentum : float
        BMUF block momentum ``eta`` in ``[0, 1)``; 0 = off.
    round_power : float
        Shape of the round boundaries (> 0); 1 = equal rounds.
    """

    combine: str = "lrmean"
    block_momentum: float = 0.0
    round_power: float = 1.0
    sat_beta: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.combine not in COMBINE_RULES:
            raise ValueError(f"combine must be one of {COMBINE_RULES}, got {self.combine!r}")
        if not 0.0 <= self.block_momentum < 1.0:
            raise ValueError("block_momentum must be in [0, 1)")
        if self.round_power <= 0:
            raise ValueError("round_power must be > 0")


def shard_of(n_sentences: int, n_shards: int, seed: int) -> np.ndarray:
    """Deterministic shard of each sentence position: a splitmix64 hash of ``(position, seed)`` mod ``P``.

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


def round_bounds(n_stream: int, params: ResearchParams) -> np.ndarray:
    """Stream positions where the rounds start and end, shaped by ``round_power`` (see the module docstring)."""
    frac = (np.arange(params.sync_rounds + 1, dtype=np.float64) / params.sync_rounds) ** params.round_power
    b = np.floor(frac * n_stream + 1e-9).astype(np.int64)
    b[-1] = n_stream
    return b


def alpha_scale(params: ResearchParams, n_shards: int) -> float:
    """Factor on the learning rate inside shards: the product's for ``"lrmean"``, 1 for every other rule."""
    return shard_alpha_scale(params, n_shards) if params.combine == "lrmean" else 1.0


class RuleTrainer(ShardTrainer):
    """The product's shard trainer with the rule's learning-rate factor and shaped rounds."""

    params: ResearchParams

    def __init__(self, counts: np.ndarray, params: ResearchParams, *, n_shards: int) -> None:
        super().__init__(counts, params, n_shards=n_shards)
        self.alpha_scale = alpha_scale(params, self.n_shards)

    def _round_bounds(self, n_stream: int) -> np.ndarray:
        return round_bounds(n_stream, self.params)


class RuleCombiner(Combiner):
    """Combines the shards' changes by ``params.combine``, then block momentum.

    Memory: the product's two ``V x D`` sums, two more with block momentum, ``O(V)`` per-row statistics.
    """

    params: ResearchParams

    def __init__(self, vocab_size: int, vector_size: int, n_shards: int, params: ResearchParams) -> None:
        super().__init__(vocab_size, vector_size, n_shards, params)
        self.rule = params.combine
        self.scale = alpha_scale(params, self.n_shards)
        # Shards that changed each row, per matrix: with negative sampling nearly every shard changes
        # nearly every output row, while an input row changes only where the word occurs.
        self.touched_in = np.zeros(vocab_size, dtype=np.int32)
        self.touched_out = np.zeros(vocab_size, dtype=np.int32)
        # Sum over shards of each row's squared change (input and output), for "align".
        self.sq_in = np.zeros(vocab_size, dtype=np.float64) if self.rule == "align" else None
        self.sq_out = np.zeros(vocab_size, dtype=np.float64) if self.rule == "align" else None
        # "sat": per row, the sum over shards of 1 - (1 - a)^n_i, and of n_i.
        self.saturation = np.zeros(vocab_size, dtype=np.float64) if self.rule == "sat" else None
        self.occurrences = np.zeros(vocab_size, dtype=np.float64) if self.rule == "sat" else None
        self.rounds_done = 0
        self.mom_in: np.ndarray | None = None
        self.mom_out: np.ndarray | None = None
        if params.block_momentum > 0:
            self.mom_in = np.zeros((vocab_size, vector_size), dtype=_REAL)
            self.mom_out = np.zeros((vocab_size, vector_size), dtype=_REAL)

    def add(self, update: ShardUpdate, shards: int = 1) -> None:
        """Accumulate one shard's change (or, for the linear rules only, ``shards`` shards' pre-summed changes)."""
        if shards > 1 and self.rule not in LINEAR_RULES:
            raise ValueError(f"rule {self.rule!r} needs every shard's change; it cannot take a pre-summed one")
        super().add(update, shards)
        r = update.rows
        if self.rule == "touched":
            self.touched_in[r] += np.any(update.d_in != 0, axis=1)
            self.touched_out[r] += np.any(update.d_out != 0, axis=1)
        if self.sq_in is not None:
            self.sq_in[r] += np.einsum("ij,ij->i", update.d_in, update.d_in, dtype=np.float64)
            self.sq_out[r] += np.einsum("ij,ij->i", update.d_out, update.d_out, dtype=np.float64)
        if self.saturation is not None:
            n = update.updates.astype(np.float64)
            self.saturation[r] += -np.expm1(n * np.log1p(-self._step_share()))
            self.occurrences[r] += n

    def _step_share(self) -> float:
        """``a`` of the "sat" rule: ``sat_beta`` times the learning rate in the middle of the current round."""
        p = self.params
        alpha = p.alpha - (p.alpha - p.min_alpha) * (self.rounds_done + 0.5) / p.sync_rounds
        return min(0.5, p.sat_beta * alpha)

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
        if rule == "sat":
            whole = -np.expm1(self.occurrences * np.log1p(-self._step_share()))
            factor = np.where(self.saturation > 0, whole / np.maximum(self.saturation, 1e-300), 1.0)
            return factor.astype(_REAL)[:, None]
        # align: ratio = |sum d|^2 / sum |d|^2 is P when all changes agree, ~1 when independent.
        tot = np.einsum("ij,ij->i", summed, summed, dtype=np.float64)
        ratio = np.where(sq > 0, tot / np.maximum(sq, 1e-300), 1.0)
        return (1.0 / np.maximum(1.0, ratio)).astype(_REAL)[:, None]

    def apply(self, w_in: np.ndarray, w_out: np.ndarray) -> None:
        """Apply the round's combined change to ``w_in``/``w_out`` in place and reset the accumulators."""
        if self.n_added != self.n_shards:
            raise RuntimeError(f"apply() after {self.n_added} shards were added, expected {self.n_shards}")
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
        if self.saturation is not None:
            self.saturation.fill(0.0)
            self.occurrences.fill(0.0)
        self.rounds_done += 1
        self.n_added = 0


def train_in_process(
    sentences_per_shard: list[list[np.ndarray]],
    counts: np.ndarray,
    params: ResearchParams,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the whole round loop serially in this process: the same maths the Spark job does.

    Parameters
    ----------
    sentences_per_shard : list of list of np.ndarray
        Shard ``i``'s sentences (int word ids) in order; ``P = len(sentences_per_shard)``.
    counts : np.ndarray
        Global counts of word ids ``0..V-1``, sorted descending.
    params : ResearchParams
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
    trainer = RuleTrainer(counts, params, n_shards=n_shards)
    combiner = RuleCombiner(v, params.vector_size, n_shards, params)
    for r in range(params.sync_rounds):
        for i, sents in enumerate(sentences_per_shard):
            combiner.add(trainer.train_round(sents, r, w_in, w_out, shard_seed=i))
        combiner.apply(w_in, w_out)
    return w_in, w_out
