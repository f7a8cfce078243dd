"""Exporting a million words: ``swapvec export`` and ``swapvec.load_keyedvectors`` against gensim's own writers.

Synthetic vectors (``--words`` x ``--dim`` float32, normal; counts drawn from a Zipf law, so many tie; words in a
shuffled order, as a vectors table holds them) are written once as a swapvec output path in each format: a Delta
table (deltalake) and a Parquet version folder with its link, each with a ``runs`` row naming the version. Then each
case runs in a fresh Python process that reports its own wall time and peak resident memory (``VmHWM``), and the
same peak after its imports, before any work:

* swapvec: ``export_vectors`` (what ``swapvec export`` runs) to ``word2vec``, ``word2vec-text`` and ``keyedvectors``,
  from Delta and from Parquet, without a JVM; ``load_keyedvectors`` (against gensim's ``KeyedVectors.load``); and,
  with ``--spark``, the binary export read through Spark (local[2]; the driver's Python only, the JVM's memory is
  not in the figure).
* gensim: the same vectors as a KeyedVectors loaded in the process (``KeyedVectors.load`` of a file saved once,
  most frequent first), then ``save_word2vec_format(binary=True)``, ``(binary=False)`` and ``save``: the time of the
  save alone; the memory includes the KeyedVectors gensim must hold to write them. And ``KeyedVectors.load`` of that
  file alone, the counterpart of ``load_keyedvectors``.

Ratios are swapvec's figure over gensim's writer of the same format, measured in this one run. The files are checked
equal to gensim's (binary: the same bytes; text and keyedvectors: the same words, order and float32 values).

    python bench/export_bench.py --words 1000000 --dim 100 --folder /tmp/export-bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FILES = {"word2vec": "v.bin", "word2vec-text": "v.txt", "keyedvectors": "v.kv"}


def make_tables(folder: Path, words: int, dim: int, seed: int = 0) -> None:
    """The same vectors as a Delta output path and a Parquet one, each with a succeeded ``runs`` row; and gensim's
    KeyedVectors file of them, saved once for the gensim cases."""
    from deltalake import write_deltalake
    from gensim.models import KeyedVectors

    from swapvec.arrow import list_column

    rng = np.random.default_rng(seed)
    names = np.array([f"w{i:07d}{'x' * int(k)}" for i, k in enumerate(rng.integers(0, 6, words))])
    counts = np.minimum(rng.zipf(1.3, words), 10**9).astype(np.int64)
    matrix = rng.normal(size=(words, dim)).astype(np.float32)
    shuffled = rng.permutation(words)
    for fmt in ("delta", "parquet"):
        out = folder / fmt
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        runs_row = {
            "run_id": ["bench"],
            "command": ["run"],
            "status": ["succeeded"],
            "ended_at": pa.array([time.time_ns() // 1000], pa.timestamp("us", tz="UTC")),
            "metrics": pa.array([[]], pa.map_(pa.string(), pa.float64())),
            "row_counts": pa.array([[]], pa.map_(pa.string(), pa.int64())),
            # Delta: one overwrite and three appends below, so version 3.
            "details": [json.dumps({"table_versions": {"vectors": 3 if fmt == "delta" else "v1"}})],
        }
        runs = pa.table(runs_row)
        parts = np.array_split(shuffled, 4)  # a table of several files, as Spark writes one
        tables = [
            pa.table({"word": names[p], "vector": list_column(matrix[p]), "count": counts[p], "run_id": ["b"] * len(p)})
            for p in parts
        ]
        if fmt == "delta":
            for i, table in enumerate(tables):
                write_deltalake(str(out / "vectors"), table, mode="overwrite" if i == 0 else "append")
            write_deltalake(str(out / "runs"), runs)
        else:
            version = out / "_versions" / "vectors" / "v1"
            version.mkdir(parents=True)
            for i, table in enumerate(tables):
                pq.write_table(table, version / f"part-{i:05d}.parquet")
            os.symlink("_versions/vectors/v1", out / "vectors")
            log = out / "_versions" / "runs" / "log"
            log.mkdir(parents=True)
            pq.write_table(runs, log / "r1.parquet")
            os.symlink("_versions/runs/log", out / "runs")
    order = np.lexsort((names, -counts))  # count descending, then word: gensim's and swapvec's order
    kv = KeyedVectors(vector_size=dim)
    kv.add_vectors(names[order].tolist(), matrix[order])  # Python strings, as gensim's own models hold
    for word, count in zip(names[order].tolist(), counts[order].tolist(), strict=True):
        kv.set_vecattr(word, "count", count)
    kv.save(str(folder / "gensim.kv"))


def child(case: str, folder: Path, fmt: str, table: str) -> None:
    """One case, in this process; prints its figures as JSON."""
    import gensim  # noqa: F401  (both sides import gensim: the baseline memory is alike)

    from swapvec import export, results

    base = _memory("VmHWM")
    target = folder / f"out-{case}-{table}-{fmt}-{FILES.get(fmt, 'x')}"
    started = time.perf_counter()
    if case == "swapvec":
        export.export_vectors(str(folder / table), target, fmt, force=True)
    elif case == "spark":
        from swapvec.config import SparkConfig
        from swapvec.session import get_spark

        spark = get_spark(SparkConfig(master="local[2]", conf={"spark.ui.enabled": "false"}))
        results.has_arrow_reader = lambda fmt: False  # read through Spark even where deltalake could
        started = time.perf_counter()
        export.export_vectors(str(folder / table), target, fmt, force=True, spark=spark)
    elif case == "load":
        export.load_keyedvectors(folder / table)
    elif fmt == "load":
        from gensim.models import KeyedVectors

        KeyedVectors.load(str(folder / "gensim.kv"))
    else:
        from gensim.models import KeyedVectors

        kv = KeyedVectors.load(str(folder / "gensim.kv"))
        started = time.perf_counter()
        if fmt == "keyedvectors":
            kv.save(str(target))
        else:
            kv.save_word2vec_format(str(target), binary=fmt == "word2vec")
    seconds = time.perf_counter() - started
    peak = _memory("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "base_mb": base, "file": str(target)}))


def _memory(field: str) -> float:
    """This process's ``VmHWM`` (peak resident memory) or ``VmRSS``, in MB. Not ``ru_maxrss``: Linux keeps it across
    exec, so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(case: str, folder: Path, fmt: str, table: str) -> dict:
    command = [sys.executable, __file__, "--child", case, "--folder", str(folder), "--format", fmt, "--table", table]
    proc = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check(ours: Path, theirs: Path, fmt: str, reference) -> str:
    """Whether swapvec's file holds what gensim's does: the binary file byte for byte, the others loaded by gensim
    against the KeyedVectors gensim wrote them from (``reference``)."""
    from gensim.models import KeyedVectors

    if fmt == "word2vec":
        return "same bytes" if ours.read_bytes() == theirs.read_bytes() else "DIFFERENT"
    kv = KeyedVectors.load(str(ours)) if fmt == "keyedvectors" else KeyedVectors.load_word2vec_format(str(ours))
    same = kv.index_to_key == reference.index_to_key and np.array_equal(kv.vectors, reference.vectors)
    return "same words, order, float32" if same else "DIFFERENT"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/export-bench"))
    parser.add_argument("--spark", action="store_true", help="also the binary export read through Spark")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--format", default="word2vec", help=argparse.SUPPRESS)
    parser.add_argument("--table", default="delta", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.folder, args.format, args.table)
    started = time.perf_counter()
    make_tables(args.folder, args.words, args.dim)
    seconds = time.perf_counter() - started
    print(f"{args.words:,} words x {args.dim} float32: tables written in {seconds:.0f} s", flush=True)
    cases = [("swapvec", fmt, table) for fmt in FILES for table in ("delta", "parquet")]
    cases += [("load", "load", "delta")] + [("spark", "word2vec", "delta")] * args.spark
    from gensim.models import KeyedVectors

    reference = KeyedVectors.load(str(args.folder / "gensim.kv"), mmap="r")
    print("| what | from | s | peak MB | over imports MB | time / gensim | peak / gensim | file |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    gensim = {}
    for fmt in [*FILES, "load"]:
        gensim[fmt] = theirs = measure("gensim", args.folder, fmt, "delta")
        extra = theirs["peak_mb"] - theirs["base_mb"]
        what = "KeyedVectors.load" if fmt == "load" else f"{fmt} of a loaded KeyedVectors"
        print(
            f"| gensim {what} | its .kv file | {theirs['seconds']:.1f} | {theirs['peak_mb']:.0f} | "
            f"{extra:.0f} | 1 | 1 | |",
            flush=True,
        )
    names = {"swapvec": "swapvec export {}", "load": "load_keyedvectors", "spark": "{} through Spark"}
    for case, fmt, table in cases:
        got, theirs = measure(case, args.folder, fmt, table), gensim[fmt]
        same = check(Path(got["file"]), Path(theirs["file"]), fmt, reference) if case != "load" else "-"
        extra = got["peak_mb"] - got["base_mb"]
        print(
            f"| {names[case].format(fmt)} | {table} | {got['seconds']:.1f} | {got['peak_mb']:.0f} | {extra:.0f} | "
            f"{got['seconds'] / theirs['seconds']:.2f}x | {got['peak_mb'] / theirs['peak_mb']:.2f}x | {same} |",
            flush=True,
        )
    for name in ("delta", "parquet"):
        size = sum(f.stat().st_size for f in (args.folder / name).rglob("*") if f.is_file())
        print(f"{name} tables: {size / 2**20:,.0f} MB")


if __name__ == "__main__":
    main()
