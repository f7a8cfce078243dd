"""The report's group plots drawn as PNG (what the report drew before session 20) and as SVG with the labels as text
(what it draws now): seconds and bytes for every group of a groups file, each format in turn, in one process.

    .venv/bin/python bench/report_plots.py --before OUTPUT/baseline_vectors --after OUTPUT/vectors \\
        --groups bench/groups-gcide.txt --repeats 3

``--before`` and ``--after`` are a run's vectors tables (Delta or Parquet, read with local Spark) or KeyedVectors
files (``.kv``); the plots are :func:`swapvec.figures.group_figure`'s, the report's own, with both panels. Prints the
median seconds over the repeats and the ratio of SVG's to PNG's. Only the plots: the report's tables, its pages and
the vectors' collection are the same in both formats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

sys.path.insert(0, str(Path(__file__).parent))
from specialize_bench import load_vectors  # noqa: E402

from swapvec.figures import group_figure  # noqa: E402
from swapvec.groups import Group, read_groups_file  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--groups", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    matplotlib.use("Agg")
    before, after = load_vectors(args.before), load_vectors(args.after)
    groups = [Group(tuple(members), hub, line) for line, hub, members in read_groups_file(args.groups).groups]
    seconds: dict[str, list[float]] = {"png": [], "svg": []}
    size: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for fmt in seconds:  # the formats take turns, so a slower spell of the machine falls on both
                started = time.perf_counter()
                for group in groups:
                    path = Path(tmp, f"group-{group.line:05d}.{fmt}")
                    group_figure(path, group, (after, "after"), (before, "before"))
                seconds[fmt].append(time.perf_counter() - started)
                size[fmt] = sum(p.stat().st_size for p in Path(tmp).glob(f"*.{fmt}"))
    png = statistics.median(seconds["png"])
    print(f"{len(groups)} groups, {len(after):,} words, median of {args.repeats}")
    print("| plots | seconds | x PNG | bytes | x PNG |")
    print("|---|---|---|---|---|")
    for fmt, label in (("png", "PNG, 100 dpi (before)"), ("svg", "SVG, text as text (now)")):
        s = statistics.median(seconds[fmt])
        print(f"| {label} | {s:.2f} | {s / png:.2f} | {size[fmt]:,} | {size[fmt] / size['png']:.2f} |")


if __name__ == "__main__":
    main()
