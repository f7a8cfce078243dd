"""Where the whole ``swapvec run`` command spends its time, for one or more versions of the code, in the same hour.

Each run is a fresh process (Python, the JVM, Spark's Python workers all start cold, as a scheduled job's do) that
writes Delta tables to a fresh output path; the versions take turns, run after run, so that a slower or faster
spell of the machine falls on all of them. The stage times come from the run's own ``stage.done`` events (JSON
logs); "start" is the process start to the first stage, "after" the last stage to the process's end (the ``runs``
row and the JVM's exit), "round 1" and "last round" the training's first and last rounds (gensim backend). Prints
one table: the median of each stage over the repeats, for each version, and the ratio of the last version's to the
first's.

    python bench/command_stages.py /work/data/gcide.txt --lib /tmp/before/lib lib --repeats 2

``--lib`` names the ``lib`` folder of each version (a ``git worktree`` of an earlier commit, say); it is put first
on ``PYTHONPATH``, in front of the installed swapvec. ``--set`` adds settings to every run (the runs use the
defaults, no groups, ``evaluate.baseline=false``). A stage run inside another (the report, drawn while the tables
are written) is shown as ``report (within write)``; its time is part of the outer stage's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(lib: str, corpus: str, extra: list[str]) -> dict[str, float]:
    """One fresh ``swapvec run``: seconds by stage, plus ``start``, ``after``, ``rounds`` and ``whole``."""
    with tempfile.TemporaryDirectory(prefix="swapvec-stages-") as tmp:
        config = Path(tmp, "empty.yaml")
        config.write_text("{}\n")
        sets = [f"input.path={corpus}", f"output.path={tmp}/out", "evaluate.baseline=false", "log.format=json", *extra]
        command = [sys.executable, "-m", "swapvec.cli", "run", "--config", str(config)]
        command += [arg for s in sets for arg in ("--set", s)]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(Path(lib).resolve()), os.environ.get("PYTHONPATH", "")]),
        }
        started = time.time()
        proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        ended = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"{lib}: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    events = []
    for line in proc.stderr.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue

    def seconds_at(event: dict) -> float:
        return dt.datetime.fromisoformat(event["ts"]).timestamp()

    out: dict[str, float] = {}
    first = last = None
    for event in events:
        if event["event"] == "stage.start" and first is None:
            first = seconds_at(event)
        if event["event"] == "stage.done":
            # A stage run inside another (the report while the tables are written) is part of the other's time.
            name = event["stage"] + (f" (within {event['within']})" if "within" in event else "")
            out[name] = out.get(name, 0.0) + float(event["seconds"])
            last = seconds_at(event)
        if event["event"] == "train.round":
            later = event["round"].split("/")[0] != "1"
            out["last round" if later else "round 1"] = float(event["seconds"])
    if first is None or last is None:
        raise SystemExit(f"{lib}: no stage events in the run's log")
    out["start"] = first - started
    out["after"] = ended - last
    out["whole"] = ended - started
    return out


ORDER = ["start", "tokenize", "augment", "train", "round 1", "last round", "guarantee", "similarity", "evaluate"]
ORDER += ["write", "report (within write)", "report", "after", "whole"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus")
    parser.add_argument("--lib", nargs="+", default=["lib"], help="each version's lib folder")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="a setting for every run (key=value)")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {lib: [] for lib in args.lib}
    for repeat in range(args.repeats):
        for lib in args.lib:
            runs[lib].append(run_once(lib, args.corpus, args.set))
            print(f"# {lib}, run {repeat + 1}: {runs[lib][-1]['whole']:.1f} s", flush=True)
    load = os.getloadavg()[0]
    print(f"\n{args.corpus}, {args.repeats} runs a version, median seconds; load average {load:.1f} at end")
    print("| stage | " + " | ".join(args.lib) + (" | last / first |" if len(args.lib) > 1 else " |"))
    print("|---" * (len(args.lib) + 1 + (len(args.lib) > 1)) + "|")
    stages = [s for s in ORDER if any(s in r for rs in runs.values() for r in rs)]
    stages += sorted({s for rs in runs.values() for r in rs for s in r} - set(stages))
    for stage in stages:
        medians = [statistics.median([r.get(stage, 0.0) for r in runs[lib]]) for lib in args.lib]
        cells = [f"{m:.2f}" for m in medians]
        if len(args.lib) > 1:
            cells.append(f"{medians[-1] / medians[0]:.2f}" if medians[0] else "-")
        print(f"| {stage} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
