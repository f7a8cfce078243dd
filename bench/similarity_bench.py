"""Similarity tables: exact mode against a numpy reference, approximate mode against exact, as the vocabulary grows.

Every Spark figure is the wall time of a whole ``swapvec similarity`` process (JVM and Spark start, reading the
``vectors`` table, computing, writing ``similarities`` as Parquet), run as a user runs it, on ``local[*]``.

* ``exact``: N x 100 random vectors (default 50,000). The reference is one numpy process using both cores: blocks
  of 2048 query rows, float32 GEMM and ``argpartition``, two threads. Reports recall@10 of the Spark table against
  the reference, the share of words whose 10 neighbours are identical and in the same order, and the time ratio.
* ``approx``: for each vocabulary size, exact and approximate runs. Recall@10 of approximate against exact is
  measured on a sample of query words (not the job's own check sample: the bench draws its own, with another seed).
  The ``nprobe`` the job chose and the recall it measured on its sample come from its ``runs`` row. Past
  ``--full-below`` words an exact run of all words would not fit the time budget: its cost is extrapolated from two
  runs restricted by ``similarity.words`` (1 query word and the sample), as exact time is affine in the number of
  query words; the approximate run is always a full one.
* ``kernels``: the index behind approximate mode against the alternative, in one process on one thread, on the same
  vectors: faiss's HNSW graph (M 16, ef_construction 64) and swapvec's inverted file (``build_index``), each at
  widening searches, against exact search (``faiss.knn``) of a sample of 1,000 query words: build seconds,
  milliseconds a query, recall@10.

Usage::

    .venv/bin/python bench/similarity_bench.py exact [--words 50000]
    .venv/bin/python bench/similarity_bench.py approx [--sizes 100000 1000000] [--sample 2000] [--real PATH]
        [--nprobe 8] [--target 0.95]
    .venv/bin/python bench/similarity_bench.py kernels --real PATH [--sizes 100000 1000000]

``--real`` also measures trained vectors: a ``vectors`` table (Delta or Parquet folder), or a ``.txt`` corpus on
which gensim trains them first (2 epochs, not timed), e.g. ``--real /work/data/gcide.txt``; they are also the
source of the ``word-like`` vectors of each size (``--kinds``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
SWAPVEC = str(ROOT / ".venv" / "bin" / "swapvec")
K = 10


def random_vectors(n: int, dim: int = 100, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def word_like_vectors(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` vectors shaped like trained word vectors: mixtures of two real ones plus a little noise.

    Random Gaussian vectors are the worst case for a graph index (all points nearly equidistant); vocabularies of a
    million words are not at hand here, so the large rows draw from the geometry trained vectors have.
    """
    rng = np.random.default_rng(seed)
    unit = real / np.linalg.norm(real, axis=1, keepdims=True)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        i, j = rng.integers(0, len(unit), size=m), rng.integers(0, len(unit), size=m)
        a = rng.uniform(0.5, 1.0, size=(m, 1)).astype(np.float32)
        noise = rng.normal(scale=0.05, size=(m, real.shape[1])).astype(np.float32)
        out[start : start + m] = a * unit[i] + (1 - a) * unit[j] + noise
    return out


def words_for(n: int) -> list[str]:
    return [f"w{i:07d}" for i in range(n)]  # sorts like its index, as swapvec orders words


def write_vectors(out: Path, words: list[str], matrix: np.ndarray) -> None:
    """A swapvec Parquet ``vectors`` table (a link to a version folder), written without Spark."""
    version = out / "_versions" / "vectors" / "v1"
    version.mkdir(parents=True, exist_ok=True)
    flat = pa.array(matrix.reshape(-1), pa.float32())
    vectors = pa.ListArray.from_arrays(pa.array(np.arange(0, len(flat) + 1, matrix.shape[1]), pa.int32()), flat)
    table = pa.table(
        {
            "word": words,
            "vector": vectors,
            "count": pa.array(np.ones(len(words), np.int64)),
            "run_id": ["bench"] * len(words),
        }
    )
    step = 200_000
    for i in range(0, len(words), step):
        pq.write_table(table.slice(i, step), version / f"part-{i // step:05d}.parquet")
    link = out / "vectors"
    if link.is_symlink():
        link.unlink()
    os.symlink("_versions/vectors/v1", link)


def run_stage(out: Path, *overrides: str) -> tuple[float, pa.Table]:
    """Wall seconds of one ``swapvec similarity`` process, and the table it wrote."""
    cfg = out / "bench.yaml"
    cfg.write_text(f"output:\n  path: {out}\n  format: parquet\nlog:\n  level: WARNING\n")
    started = time.perf_counter()
    subprocess.run([SWAPVEC, "similarity", "--config", str(cfg), *[f"--set={o}" for o in overrides]], check=True)
    seconds = time.perf_counter() - started
    return seconds, pq.read_table(out / "similarities")


def search_record(out: Path) -> dict[str, float]:
    """The metrics of the last ``runs`` row: how approximate mode searched (``similarity_*``)."""
    runs = pq.read_table(out / "runs").to_pylist()
    return dict(runs[-1]["metrics"] or {})


def neighbours(table: pa.Table, words: list[str]) -> dict[str, list[str]]:
    rows = table.select(["word", "neighbor", "rank"]).sort_by([("word", "ascending"), ("rank", "ascending")])
    got: dict[str, list[str]] = {}
    for w, n in zip(rows.column("word").to_pylist(), rows.column("neighbor").to_pylist(), strict=True):
        got.setdefault(w, []).append(n)
    return {w: got.get(w, []) for w in words}


def numpy_reference(matrix: np.ndarray, k: int = K, block: int = 2048, threads: int = 2) -> np.ndarray:
    """Exact top-k rows (self excluded, ties to the lower row) with numpy: blocks of ``block`` rows, ``threads``."""
    normed = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    out = np.empty((len(normed), k), dtype=np.int64)

    def one(start: int) -> None:
        stop = min(start + block, len(normed))
        scores = normed[start:stop] @ normed.T
        scores[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.lexsort((part, -np.take_along_axis(scores, part, axis=1)), axis=1)
        out[start:stop] = np.take_along_axis(part, order, axis=1)

    with threadpool_limits(limits=1), cf.ThreadPoolExecutor(threads) as pool:  # numpy releases the GIL in both
        list(pool.map(one, range(0, len(normed), block)))
    return out


def recall(got: dict[str, list[str]], expected: dict[str, list[str]]) -> float:
    return float(np.mean([len(set(got[w][:K]) & set(e)) / len(e) for w, e in expected.items()]))


def load(uptime_note: list[str]) -> None:
    uptime_note.append(os.getloadavg()[0])


def bench_exact(n: int) -> None:
    matrix = random_vectors(n)
    words = words_for(n)
    loads: list = []
    load(loads)
    started = time.perf_counter()
    ref = numpy_reference(matrix)
    t_numpy = time.perf_counter() - started
    expected = {w: [words[j] for j in ref[i]] for i, w in enumerate(words)}
    with tempfile.TemporaryDirectory(prefix="simbench-") as tmp:
        out = Path(tmp)
        write_vectors(out, words, matrix)
        load(loads)
        t_spark, table = run_stage(out, "similarity.mode=exact")
        load(loads)
    got = neighbours(table, words)
    identical = float(np.mean([got[w] == e for w, e in expected.items()]))
    print(f"\n### Exact top-{K}, {n:,} x 100 random vectors (load average at start/between/end: {loads})\n")
    print("| what | seconds | vs numpy | recall@10 | identical lists |")
    print("|---|---|---|---|---|")
    print(f"| numpy, 2 threads, blocks of 2048, argpartition | {t_numpy:.1f} | 1.00 | 1 (reference) | |")
    print(
        f"| `swapvec similarity` (whole process, Spark start included) | {t_spark:.1f} | {t_spark / t_numpy:.2f} "
        f"| {recall(got, expected):.4f} | {identical:.4f} |"
    )


def read_real(path: str) -> tuple[list[str], np.ndarray]:
    if (Path(path) / "_delta_log").is_dir():
        from deltalake import DeltaTable

        table = DeltaTable(path).to_pyarrow_table(columns=["word", "vector"])
    else:
        table = pq.read_table(Path(path).resolve(), columns=["word", "vector"])
    table = table.sort_by("word")
    flat = table.column("vector").combine_chunks()
    return table.column("word").to_pylist(), flat.values.to_numpy().astype(np.float32).reshape(len(table), -1)


def train_quick(corpus: str) -> tuple[list[str], np.ndarray]:
    """Real word vectors for the recall check: gensim skip-gram on a text corpus, 2 epochs (not timed)."""
    from gensim.models import Word2Vec

    model = Word2Vec(corpus_file=corpus, vector_size=100, window=5, min_count=5, sg=1, epochs=2, workers=2, seed=1)
    words = sorted(model.wv.key_to_index)
    return words, np.stack([model.wv[w] for w in words]).astype(np.float32)


def vector_cases(real: str | None, sizes: list[int], kinds: list[str], real_row: bool) -> list[tuple[str, np.ndarray]]:
    """What to measure: the trained vectors of ``real`` (when ``real_row``), then each size's ``kinds``.

    ``real`` is a vectors table, or a ``.txt`` corpus to train on; word-like vectors need it as their source.
    """
    cases: list[tuple[str, np.ndarray]] = []
    trained = None
    if real:
        text = Path(real).suffix == ".txt"
        trained = (train_quick if text else read_real)(real)[1]
        if real_row:
            cases.append((f"trained on {Path(real).name}" + (" (gensim, 2 epochs)" if text else ""), trained))
    for n in sizes:
        if "random" in kinds:
            cases.append(("random", random_vectors(n, seed=n)))
        if "word-like" in kinds and trained is not None:
            cases.append(("word-like (mixtures of the trained vectors)", word_like_vectors(trained, n, n)))
    return cases


def bench_approx(
    sizes: list[int],
    sample: int,
    real: str | None,
    full_below: int,
    nprobe: int,
    target: float,
    kinds: list[str],
    real_row: bool,
) -> None:
    print(f"\n### Approximate (inverted files from nprobe {nprobe}, recall target {target}) against exact, top-{K}\n")
    print(
        "| vectors | words | recall@10 on sample | job: nprobe, its sample's recall, share exact | exact s "
        "| approximate s | approximate / exact | how the cost of all words was got | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    approximate = ("similarity.mode=approximate", f"similarity.nprobe={nprobe}", f"similarity.recall_target={target}")
    for kind, matrix in vector_cases(real, sizes, kinds, real_row):
        words = words_for(len(matrix))
        n = len(words)
        rng = np.random.default_rng(1)
        chosen = sorted(rng.choice(n, size=min(sample, n), replace=False).tolist())
        with tempfile.TemporaryDirectory(prefix="simbench-") as tmp:
            out = Path(tmp)
            write_vectors(out, words, matrix)
            sample_file = out / "sample.txt"
            sample_file.write_text("\n".join(words[i] for i in chosen) + "\n")
            one_file = out / "one.txt"
            one_file.write_text(words[chosen[0]] + "\n")
            load_start = os.getloadavg()[0]
            if n <= full_below:
                t_exact, exact_table = run_stage(out, "similarity.mode=exact")
                t_approx, approx_table = run_stage(out, *approximate)
                searched = search_record(out)
                how = "full runs"
            else:
                # Exact cost grows with the square of the vocabulary: all words' cost is extrapolated from two runs.
                t0_e, _ = run_stage(out, "similarity.mode=exact", f"similarity.words={one_file}")
                ts_e, exact_table = run_stage(out, "similarity.mode=exact", f"similarity.words={sample_file}")
                t_exact = t0_e + (ts_e - t0_e) * (n - 1) / (len(chosen) - 1)
                t_approx, approx_table = run_stage(out, *approximate)
                searched = search_record(out)
                how = (
                    f"approximate: full run; exact: extrapolated from {t0_e:.0f} s (1 query word) and {ts_e:.0f} s "
                    f"({len(chosen)} query words)"
                )
        sample_words = [words[i] for i in chosen]
        exact_n = neighbours(exact_table, sample_words)
        approx_n = neighbours(approx_table, sample_words)
        r = recall(approx_n, exact_n)
        nan = float("nan")
        job = (
            f"{searched.get('similarity_nprobe', nan):.0f}, {searched.get('similarity_sample_recall', nan):.3f}, "
            f"{searched.get('similarity_exact_share', nan):.2f}"
        )
        print(
            f"| {kind} | {n:,} | {r:.3f} | {job} | {t_exact:.0f} | {t_approx:.0f} | {t_approx / t_exact:.2f} | {how} "
            f"| {load_start:.1f} |",
            flush=True,
        )


def bench_kernels(real: str, sizes: list[int], kinds: list[str], real_row: bool) -> None:
    import faiss

    cases = vector_cases(real, sizes, kinds, real_row)
    print(f"\n### Index kernels, one thread, top-{K} of 1,000 sampled query words\n")
    print("| vectors | words | index | build s | search width | ms a query | x exact's ms | recall@10 | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    faiss.omp_set_num_threads(1)
    with threadpool_limits(limits=1):
        for kind, matrix in cases:
            kernel_rows(kind, np.ascontiguousarray(matrix / np.linalg.norm(matrix, axis=1, keepdims=True)))


def kernel_rows(kind: str, x: np.ndarray) -> None:
    """The ``kernels`` table's rows for one set of normalised vectors."""
    import faiss

    from swapvec.similarity.kernels import build_index, search_index

    x = x.astype(np.float32)
    rows = np.sort(np.random.default_rng(1).choice(len(x), 1000, replace=False))
    started = time.perf_counter()
    _, truth = faiss.knn(x[rows], x, K + 1, metric=faiss.METRIC_INNER_PRODUCT)
    exact_ms = (time.perf_counter() - started) * 1000 / len(rows)
    truth = [set(t[t != r][:K]) for t, r in zip(truth, rows, strict=True)]
    head = f"| {kind} | {len(x):,}"
    print(f"{head} | exact (faiss.knn) | | | {exact_ms:.3f} | 1.00 | 1 | {os.getloadavg()[0]:.1f} |", flush=True)

    def row(name: str, built: float, width: int, found: list[np.ndarray], seconds: float) -> None:
        ms = seconds * 1000 / len(rows)
        hit = np.mean([len(set(f) & t) / K for f, t in zip(found, truth, strict=True)])
        print(
            f"{head} | {name} | {built:.1f} | {width} | {ms:.3f} | {ms / exact_ms:.3f} | {hit:.3f} "
            f"| {os.getloadavg()[0]:.1f} |",
            flush=True,
        )

    started = time.perf_counter()
    graph = faiss.IndexHNSWFlat(x.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = 64
    graph.add(x)
    built = time.perf_counter() - started
    for ef in (64, 256, 1024, 4096):
        graph.hnsw.efSearch = ef
        started = time.perf_counter()
        found = graph.search(x[rows], K + 1)[1]
        seconds = time.perf_counter() - started
        row("HNSW, M 16", built, ef, [f[f != r][:K] for f, r in zip(found, rows, strict=True)], seconds)
    del graph
    started = time.perf_counter()
    index = build_index(x)
    built = time.perf_counter() - started
    for nprobe in (8, 32, 128, 256, 512):
        started = time.perf_counter()
        found = search_index(index, x[rows], rows, K, nprobe)[0]
        row(f"inverted file, {index.nlist} lists", built, nprobe, list(found), time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    exact = sub.add_parser("exact")
    exact.add_argument("--words", type=int, default=50_000)
    approx = sub.add_parser("approx")
    approx.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    approx.add_argument("--sample", type=int, default=2000)
    approx.add_argument("--real", help="a trained vectors table, or a .txt corpus to train on, to measure too")
    approx.add_argument("--full-below", type=int, default=200_000, help="full runs up to this many words")
    approx.add_argument("--nprobe", type=int, default=8, help="similarity.nprobe: where the job's search starts")
    approx.add_argument("--target", type=float, default=0.95, help="similarity.recall_target (0: nprobe as given)")
    approx.add_argument(
        "--kinds", nargs="+", default=["random", "word-like"], choices=["random", "word-like"], help="vectors per size"
    )
    kernels = sub.add_parser("kernels")
    kernels.add_argument("--real", required=True, help="a trained vectors table, or a .txt corpus to train on")
    kernels.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    kernels.add_argument("--kinds", nargs="+", default=["word-like"], choices=["random", "word-like"])
    kernels.add_argument("--no-real-row", dest="real_row", action="store_false")
    approx.add_argument("--no-real-row", dest="real_row", action="store_false", help="use --real only as a source")
    args = parser.parse_args(argv)
    if args.part == "exact":
        bench_exact(args.words)
    elif args.part == "kernels":
        bench_kernels(args.real, args.sizes, args.kinds, args.real_row)
    else:
        bench_approx(
            args.sizes, args.sample, args.real, args.full_below, args.nprobe, args.target, args.kinds, args.real_row
        )


if __name__ == "__main__":
    sys.exit(main())
