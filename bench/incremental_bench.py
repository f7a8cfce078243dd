"""Incremental runs (``train.init_from``) against one run over the whole corpus, with the product's own commands.

Two comparisons, every run a ``swapvec run`` (``pipeline.execute``) in one local Spark session, tables in Parquet:

* **Parts**: the corpus cut into ``--parts`` parts in line order; the first part trained from scratch, each later
  part continued from the model of the one before (``train.init_from``), every part with the same epochs: so each
  sentence is trained as many times as in one run over the whole corpus. Scored after the last part, against that
  one run: WS-353, SimLex-999, and each increment's training seconds against a ``1/parts`` share of the full run's.
* **Groups added**: the full run without groups continued with a groups file and ``augment.affected_only`` (only the
  sentences that hold a group word, and their copies), against a full run with the groups: the share of members
  with every group-mate in their top 10, WS-353, and the training and whole-command seconds.

Usage::

    .venv/bin/python bench/incremental_bench.py /work/data/gcide.txt --groups bench/groups-gcide.txt
    .venv/bin/python bench/incremental_bench.py /work/data/gcide.txt --groups bench/groups-gcide.txt --groups-only \
        --added-epochs 5 2 1       # groups added at several augment.affected_epochs
    .venv/bin/python bench/incremental_bench.py /work/data/gcide.txt --groups bench/groups-gcide.txt --groups-only \
        --added-set train.sync_rounds=2 train.seed=2     # and with other settings, one run each

``words the guarantee moved`` says how many group words the guarantee step placed after training.

Each run's seconds are the command's own (``execute``, Spark already started) and its training's (``train_seconds``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from swapvec.config import load_config
from swapvec.log import setup_logging
from swapvec.pipeline import execute
from swapvec.session import get_spark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus")
    parser.add_argument("--groups", required=True)
    parser.add_argument("--parts", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], help="dotted.key=value for every run")
    parser.add_argument("--parts-only", action="store_true", help="leave out the groups-added comparison")
    parser.add_argument("--groups-only", action="store_true", help="leave out the parts")
    parser.add_argument(
        "--added-epochs",
        type=int,
        nargs="+",
        default=None,
        help="one groups-added run at each of these augment.affected_epochs (default: one run at the configured)",
    )
    parser.add_argument(
        "--added-set",
        nargs="+",
        default=[],
        help="one more groups-added run for each of these: its own settings, comma-separated (train.seed=2,...)",
    )
    parser.add_argument(
        "--continued-alpha",
        type=float,
        nargs="+",
        default=None,
        help="train.alpha of parts 2, 3, ... (the last one given for the parts after it); train.alpha otherwise",
    )
    args = parser.parse_args()
    setup_logging("text", "WARNING")
    folder = Path(tempfile.mkdtemp(prefix="incremental-"))
    common = ["output.format=parquet", "log.progress=false", "similarity.top_k=10", *args.set]
    cfg0 = load_config(None, [f"input.path={args.corpus}", *common])
    spark = get_spark(cfg0.spark, app_name="incremental-bench")

    def run(name: str, *settings: str):
        cfg = load_config(None, [*common, f"output.path={folder / name}", *settings])
        started = time.monotonic()
        record = execute(spark, cfg)
        m = record.metrics
        m["command_seconds"] = time.monotonic() - started
        print(
            f"  {name}: command {m['command_seconds']:.1f} s, training {m['train_seconds']:.1f} s, "
            f"WS-353 {m['ws353']:.3f}, SimLex-999 {m['simlex999']:.3f}",
            flush=True,
        )
        return m

    lines = Path(args.corpus).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    size = -(-len(lines) // args.parts)
    parts = []
    for i in range(args.parts):
        part = folder / f"part-{i + 1}.txt"
        part.write_text("".join(lines[i * size : (i + 1) * size]), encoding="utf-8")
        parts.append(part)

    print(f"{args.corpus}: {len(lines):,} lines, {args.parts} parts of {size:,} lines")
    full = run("full", f"input.path={args.corpus}")
    increments = [] if args.groups_only else [run("part-1", f"input.path={parts[0]}")]
    for i in range(1, 0 if args.groups_only else args.parts):
        rates = args.continued_alpha
        rate = [f"train.alpha={rates[min(i, len(rates)) - 1]}"] if rates else []
        previous = f"train.init_from={folder / f'part-{i}'}"
        increments.append(run(f"part-{i + 1}", f"input.path={parts[i]}", previous, *rate))
    if args.parts_only:
        grouped = added = None
    else:
        grouped, added = groups_added(args, run, folder)
    report(args, full, increments, grouped, added)


def groups_added(args, run, folder):
    """The full run with the groups, and the full run without them continued with the groups (affected only), once
    at each ``--added-epochs`` and once with each ``--added-set``: ``(grouped, [(label or None, metrics), ...])``."""
    grouped = run("full-groups", f"input.path={args.corpus}", f"augment.groups_path={args.groups}")
    variants = [(f"{e} epochs", [f"augment.affected_epochs={e}"]) for e in args.added_epochs or []]
    variants += [(settings.replace(",", ", "), settings.split(",")) for settings in args.added_set]
    added = []
    for i, (label, settings) in enumerate(variants or [(None, [])]):
        added.append(
            (
                label,
                run(
                    f"groups-added-{i}",
                    f"input.path={args.corpus}",
                    f"augment.groups_path={args.groups}",
                    f"train.init_from={folder / 'full'}",
                    "augment.affected_only=true",
                    *settings,
                ),
            )
        )
    return grouped, added


def report(args, full, increments, grouped, added) -> None:
    share = full["train_seconds"] / args.parts
    print(f"\n| run | WS-353 | SimLex-999 | training s | vs 1/{args.parts} of the full run's | command s |")
    print("|---|---|---|---|---|---|")
    print(f"| one run, whole corpus | {full['ws353']:.3f} | {full['simlex999']:.3f} | {full['train_seconds']:.1f} | - "
          f"| {full['command_seconds']:.1f} |")  # fmt: skip
    for i, m in enumerate(increments):
        scores = f"{m['ws353']:.3f} | {m['simlex999']:.3f}" if i == len(increments) - 1 else "- | -"
        print(f"| part {i + 1}{' (from scratch)' if i == 0 else ', continued'} | {scores} | {m['train_seconds']:.1f} "
              f"| {m['train_seconds'] / share:.2f} | {m['command_seconds']:.1f} |")  # fmt: skip
    if grouped is None:
        return
    print("\n| run | members with all mates in top 10 | words the guarantee moved | WS-353 | SimLex-999 | training s "
          "| command s | vs full |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    rows = [("one run with the groups", grouped)]
    rows += [(f"groups added (affected only{'' if label is None else f', {label}'})", m) for label, m in added]
    for name, m in rows:
        print(f"| {name} | {m['group_share_top10']:.3f} | {m.get('guarantee_words_moved', 0):.0f} | {m['ws353']:.3f} "
              f"| {m['simlex999']:.3f} | {m['train_seconds']:.1f} | {m['command_seconds']:.1f} "
              f"| {m['command_seconds'] / grouped['command_seconds']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
