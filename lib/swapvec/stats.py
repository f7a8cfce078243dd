"""What a stage tells about its work, beside the DataFrame it returns: the numbers a run's ``runs`` row records.

Every stage function returns its result and a :class:`Stats`; the command that chains the stages adds them to its
run record (``swapvec.runs.RunRecord``). Stages never receive the record itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stats:
    """``row_counts`` (``runs.row_counts``), ``metrics`` (``runs.metrics``, numbers) and ``details`` (``runs.details``,
    anything JSON can hold) of one stage."""

    row_counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def __or__(self, other: Stats) -> Stats:
        """Both stages' stats; ``other``'s win where they name the same key."""
        return Stats(
            {**self.row_counts, **other.row_counts},
            {**self.metrics, **other.metrics},
            {**self.details, **other.details},
        )
