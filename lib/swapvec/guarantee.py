"""The group guarantee: after training, move the group words that miss their promise, and only as far as it needs.

The promise: a hub is the nearest word (rank 1) of each of its members, and each member of a plain group has all its
mates among its 10 nearest words. Swapped copies bring group words together, but on real text not always far enough
(members inherit the hub's contexts, so they become each other's nearest words before the hub's). This step makes the
promise hold over the whole vocabulary, moving nothing but group words:

* Each group has a centre ``c``: its hub (which does not move), or the mean direction of a plain group's members.
* A member ``m`` is written ``m = cos(t) c + sin(t) u``: an angle ``t`` from the centre and a direction ``u``
  orthogonal to it. Level ``s`` (0 to 1) narrows every angle toward ``t_min`` and turns the directions toward the
  nearest orthonormal set (the polar factor of the members' directions). Level 0 is the trained vectors.
* At level 1 the promise holds by construction: with ``t_min`` a quarter of the angle from the centre to the nearest
  word outside the group, a member is nearer its centre (``t_min``) and its mates (``acos(cos(t_min)^2)``) than any
  other word (at least ``3/4`` of that angle away, by the triangle inequality on the sphere).
* Each group takes the lowest level at which its promise holds; the levels past 1 halve ``t_min`` (for centres
  whose nearest outside word moves with another group).

The search runs on the driver over a candidate set: the ``CANDIDATES`` nearest words outside the groups of every
group word and centre (one Spark job, ``swapvec.similarity.nearest.nearest_words``). The result is then checked
against the whole vocabulary (the same job at the new positions); a word the candidates missed joins them and the
search runs again. So only group words' vectors and a few hundred candidates reach the driver, whatever the
vocabulary.

This module is long because the promise, the levels that keep it and the checks that they do are one idea: split,
the geometry and the proof that it holds over the vocabulary would be read apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from swapvec.evaluate import TOP
from swapvec.groups import Group, group_words
from swapvec.log import event, get_logger
from swapvec.retrofit import replace_vectors
from swapvec.similarity.nearest import nearest_words
from swapvec.stats import Stats

_log = get_logger("guarantee")

#: Neighbours of each group word (and centre) gathered as candidates, and found again at the new positions.
CANDIDATES = 32
#: Levels 0, 1/16, ..., 1, then level 1 with ``t_min`` halved this many times.
STEPS, HALVINGS = 16, 12
MAX_LEVEL = STEPS + HALVINGS
#: A mate must beat every other word by this much cosine (the vectors are stored as float32).
MARGIN = 1e-5
#: Rounds of search and whole-vocabulary check before the step gives up and reports what still misses.
ROUNDS = 5


def wanted_rank(group: Group) -> int:
    """The rank each mate must reach: 1 for a hub, ``TOP`` (10) for a plain group's mates."""
    return 1 if group.hub else TOP


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)


@dataclass
class _Frame:
    """A group's members around its centre, from the trained vectors: what every level is computed from."""

    group: Group
    members: list[str]
    center: np.ndarray  # unit
    angles: np.ndarray  # each member's angle from the centre
    directions: np.ndarray  # k x dim unit, orthogonal to the centre (the members' own)
    spread: np.ndarray  # k x dim orthonormal, orthogonal to the centre: the nearest such set to ``directions``

    @classmethod
    def of(cls, group: Group, trained: dict[str, np.ndarray]) -> _Frame | None:
        """The frame of a group whose words have vectors; None when too few of them do (nothing to promise)."""
        members = [w for w in (group.members if group.hub else group.words) if w in trained]
        if (group.hub is not None and group.hub not in trained) or len(members) < (1 if group.hub else 2):
            return None
        units = np.array([trained[w] for w in members], dtype=np.float64)
        center = trained[group.hub] if group.hub else _unit(units.mean(axis=0))
        cosines = np.clip(units @ center, -1.0, 1.0)
        residual = units - cosines[:, None] * center[None, :]
        directions = _unit(residual)
        # The polar factor (U V^T of the SVD) is the orthonormal set nearest the directions (Loewdin); the centre is
        # projected out again for a degenerate set, whose SVD may fill in directions along it.
        u, _, vt = np.linalg.svd(directions.T, full_matrices=False)
        spread = (u @ vt).T
        spread = spread - (spread @ center)[:, None] * center[None, :]
        q, r = np.linalg.qr(spread.T)
        spread = (q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))).T
        lost = np.linalg.norm(residual, axis=1) < 1e-9
        directions[lost] = spread[lost]
        return cls(group, members, center, np.arccos(cosines), directions, spread)

    def place(self, level: int, nearest_angle: float) -> np.ndarray:
        """The members' unit vectors at ``level`` (see the module docstring), ``k x dim``."""
        s = min(level, STEPS) / STEPS
        floor = nearest_angle / 4 / 2 ** max(0, level - STEPS)
        angles = (1 - s) * self.angles + s * np.minimum(self.angles, floor)
        directions = _unit((1 - s) * self.directions + s * self.spread)
        return np.cos(angles)[:, None] * self.center[None, :] + np.sin(angles)[:, None] * directions


@dataclass
class Placement:
    """Where the group words ended: the moved words' ``vectors`` (trained lengths), each group's level, the unmet
    groups."""

    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    levels: dict[int, int] = field(default_factory=dict)
    unmet: list[Group] = field(default_factory=list)


class _Solver:
    """The driver-side search: group words' positions and the candidate words they are checked against."""

    def __init__(self, groups: list[Group], trained: dict[str, np.ndarray], norms: dict[str, float]):
        self.frames = [f for g in groups if (f := _Frame.of(g, trained)) is not None]
        self.trained, self.norms = trained, norms
        self.positions = dict(trained)
        self.levels = {f.group.line: 0 for f in self.frames}
        self.candidates: dict[str, np.ndarray] = {}
        self._candidate_matrix = np.empty((0, 0))

    def add_candidates(self, found: list[list[tuple[str, float, np.ndarray]]]) -> int:
        """Add words found outside the groups; returns how many were new."""
        new = 0
        for rows in found:
            for word, _, vector in rows:
                if word not in self.candidates and word not in self.trained:
                    self.candidates[word] = _unit(vector.astype(np.float64))
                    new += 1
        self._candidate_matrix = np.array(list(self.candidates.values()))
        return new

    def _stored(self, word: str, unit: np.ndarray) -> np.ndarray:
        """The unit vector that will be read back: scaled to the trained length and rounded to float32."""
        return _unit((unit * self.norms[word]).astype(np.float32).astype(np.float64))

    def _scores(self, vector: np.ndarray, leave_out: set[str]) -> tuple[np.ndarray, dict[str, float]]:
        """Cosines of ``vector`` with every candidate, and with each group word not in ``leave_out``."""
        candidates = self._candidate_matrix @ vector if len(self.candidates) else np.empty(0)
        return candidates, {w: float(p @ vector) for w, p in self.positions.items() if w not in leave_out}

    def _met(self, frame: _Frame) -> bool:
        """True when every member of ``frame`` has its mates at the wanted rank among the candidates and groups."""
        rank = wanted_rank(frame.group)
        for member in frame.members:
            candidates, grouped = self._scores(self.positions[member], {member})
            for mate in frame.group.mates(member):
                if mate not in grouped:
                    continue
                # Words within MARGIN of the mate count as nearer (the vectors are stored as float32); minus the mate.
                bar = grouped[mate] - MARGIN
                nearer = np.count_nonzero(candidates >= bar) + sum(v >= bar for v in grouped.values()) - 1
                if nearer >= rank:
                    return False
        return True

    def _nearest_angle(self, frame: _Frame) -> float:
        """The angle from the group's centre to the nearest word outside the group (candidates and other groups)."""
        candidates, grouped = self._scores(frame.center, {*frame.members, frame.group.hub})
        best = max([*candidates.tolist(), *grouped.values()], default=0.0)
        return float(np.arccos(np.clip(best, -1.0, 1.0)))

    def _set(self, frame: _Frame, level: int) -> None:
        placed = frame.place(level, self._nearest_angle(frame)) if level else None
        for i, word in enumerate(frame.members):
            self.positions[word] = self.trained[word] if placed is None else self._stored(word, placed[i])

    def solve(self) -> list[_Frame]:
        """Raise each group to the lowest level that meets its promise (levels never go down); returns the unmet."""
        for _ in range(len(self.frames) + 1):
            changed = False
            for frame in self.frames:
                level = self.levels[frame.group.line]
                self._set(frame, level)
                while not self._met(frame) and level < MAX_LEVEL:
                    level += 1
                    self._set(frame, level)
                changed |= level != self.levels[frame.group.line]
                self.levels[frame.group.line] = level
            if not changed:
                break
        return [f for f in self.frames if not self._met(f)]

    def moved(self) -> dict[str, np.ndarray]:
        return {w: self.positions[w] for f in self.frames if self.levels[f.group.line] for w in f.members}


#: ``(queries, n) -> per query the n nearest words outside the groups, (word, cosine, vector) best first``.
Nearest = Callable[[np.ndarray, int], list[list[tuple[str, float, np.ndarray]]]]


def place(groups: list[Group], vectors: dict[str, np.ndarray], nearest_outside: Nearest) -> tuple[Placement, Stats]:
    """Where the group words must go for every group's promise to hold; the numpy core of :func:`guarantee`.

    Parameters
    ----------
    groups
        The word groups.
    vectors
        The group words' trained vectors (words without one are left out).
    nearest_outside
        Finds the nearest words outside the groups in the whole vocabulary (``nearest_words`` on the table).

    Returns
    -------
    (Placement, Stats)
        The moved words' new vectors (with their trained lengths) and what :func:`guarantee` reports.
    """
    norms = {w: float(np.linalg.norm(v)) for w, v in vectors.items()}
    trained = {w: _unit(np.asarray(v, np.float64)) for w, v in vectors.items() if norms[w] > 0}
    solver = _Solver(groups, trained, norms)
    unmet: list[_Frame] = []
    rounds = 0
    held: set[int] = set()  # the lines whose promise the trained vectors kept, before anything moved
    if solver.frames:
        queries = [trained[w] for w in sorted(trained)] + [f.center for f in solver.frames]
        solver.add_candidates(nearest_outside(np.array(queries), CANDIDATES))
        # Exact over the vocabulary: a word nearer than a mate is among the member's CANDIDATES nearest outside words.
        held = {f.group.line for f in solver.frames if solver._met(f)}
        while rounds < ROUNDS:
            rounds += 1
            unmet = solver.solve()
            moved = solver.moved()
            # What the candidates may have missed: the nearest words of every moved word at its new place.
            if not moved or not solver.add_candidates(nearest_outside(np.array(list(moved.values())), TOP + 1)):
                break
        else:  # the last round found new candidates: search once more among them, unchecked
            unmet = solver.solve()
    moved = solver.moved()
    placement = Placement(
        vectors={w: v * norms[w] for w, v in moved.items()},
        levels=dict(solver.levels),
        unmet=[f.group for f in unmet],
    )
    missed, per_group = {f.group.line for f in unmet}, []
    for f in solver.frames:  # what the summary and the report say of each group
        line, words = f.group.line, list(f.members) if solver.levels[f.group.line] else []
        least = min((float(moved[w] @ trained[w]) for w in words), default=1.0)
        entry = {"line": line, "kept_by_training": line in held, "moved": words, "least_cosine": round(least, 4)}
        per_group.append({**entry, "met": line not in missed})
    stats = Stats(
        metrics={
            "guarantee_groups": float(len(solver.frames)),
            "guarantee_groups_kept_by_training": float(len(held)),
            "guarantee_groups_met": float(len(solver.frames) - len(unmet)),
            "guarantee_words_moved": float(len(moved)),
            "guarantee_rounds": float(rounds),
            # How far the farthest moved word went: the cosine between its trained and its new vector.
            "guarantee_least_cosine": min((float(v @ trained[w]) for w, v in moved.items()), default=1.0),
        },
        details={
            "guarantee_levels": {str(line): level for line, level in solver.levels.items()},
            "guarantee": per_group,
        },
    )
    return placement, stats


def guarantee(vectors: DataFrame, groups: list[Group]) -> tuple[DataFrame, Stats]:
    """The ``vectors`` table with the group words moved until every group's promise holds (module docstring).

    Parameters
    ----------
    vectors
        ``word string, vector array<float>, count bigint`` (other columns are kept as they are).
    groups
        The word groups; words without a vector are left out (the evaluation reports them missing).

    Returns
    -------
    (DataFrame, Stats)
        The same rows and columns, only moved group words' ``vector`` differs; stats ``guarantee_groups`` (groups
        with something to promise), ``guarantee_groups_kept_by_training`` (those whose promise held before anything
        moved), ``guarantee_groups_met``, ``guarantee_words_moved``, ``guarantee_rounds`` (whole-vocabulary checks),
        ``guarantee_least_cosine`` (between a moved word's trained and new vector, the farthest move),
        ``details["guarantee_levels"]`` (each group's level by line, 0: unmoved) and ``details["guarantee"]``, one
        entry a group: ``line``, ``kept_by_training``, ``moved`` (its words the step moved), ``least_cosine`` (the
        farthest of them, 1.0 when none moved) and ``met`` (the promise holds after the step).
    """
    wanted = group_words(groups)
    # The group words' rows only (bounded by the number of group words).
    rows = vectors.where(F.col("word").isin(wanted)).select("word", "vector").orderBy("word").collect()
    outside = vectors.where(~F.col("word").isin(wanted))
    placement, stats = place(
        groups, {r.word: np.asarray(r.vector, np.float64) for r in rows}, lambda q, n: nearest_words(outside, q, n)
    )
    event(_log, "guarantee.done", moved=sorted(placement.vectors), levels=stats.details["guarantee_levels"])
    if placement.unmet:
        event(
            _log,
            "guarantee.unmet",
            level=logging.WARNING,
            lines=[g.line for g in placement.unmet],
            note="the promise still fails for these groups at the strongest level",
        )
    return replace_vectors(vectors, placement.vectors), stats
