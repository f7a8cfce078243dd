"""What a user calls to get a run's results out of Spark: ``swapvec.run`` (the Python API), ``swapvec export`` (a real
subprocess) and ``swapvec.load_keyedvectors``, on the seed's example in both table formats. The vectors are compared
with the tables read independently (deltalake, pyarrow) at the versions the runs wrote, and with gensim's own files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from gensim.models import KeyedVectors

import swapvec
from tests.conftest import SEED_GROUPS, SEED_LINES

BIN = Path(sys.executable).parent
MEMBERS = ("movies", "films", "cinema")


def _seed_files(root: Path) -> dict[str, str]:
    (root / "corpus.txt").write_text("\n".join(SEED_LINES * 50) + "\n", encoding="utf-8")
    (root / "groups.txt").write_text(SEED_GROUPS, encoding="utf-8")
    return {"input.path": str(root / "corpus.txt"), "augment.groups_path": str(root / "groups.txt")}


@pytest.fixture(scope="module")
def delta_runs(spark, tmp_path_factory):
    """Two runs of the seed's example into one Delta output path (seeds 1 and 2), the second with a run key, and that
    key run again (skipped). The config given three ways: a mapping of sections and dotted keys, overrides as a
    mapping, and overrides as ``--set`` strings."""
    root = tmp_path_factory.mktemp("api-delta")
    files = _seed_files(root)
    config = {"train": {"min_count": 1}, "evaluate.baseline": False, **files}
    first = swapvec.run(spark, config, {"output.path": str(root / "out")})
    again = [f"output.path={root / 'out'}", "train.seed=2", "run.key=7"]
    second = swapvec.run(spark, config, again)
    skipped = swapvec.run(spark, config, again)
    return root / "out", first, second, skipped


@pytest.fixture(scope="module")
def parquet_run(spark, tmp_path_factory):
    """One run of the seed's example into a Parquet output path, with MLlib; the config as a YAML file."""
    root = tmp_path_factory.mktemp("api-parquet")
    files = _seed_files(root)
    (root / "conf.yaml").write_text(f"input:\n  path: {files['input.path']}\ntrain:\n  backend: mllib\n")
    overrides = {
        "augment.groups_path": files["augment.groups_path"],
        "train.min_count": 1,
        "output.format": "parquet",
        "output.path": str(root / "out"),
        "evaluate.baseline": False,
    }
    return root / "out", swapvec.run(spark, str(root / "conf.yaml"), overrides)


def _table_at(out: Path, fmt: str, table: str, version) -> list[dict]:
    """A table at a version, read without Spark: deltalake, or pyarrow on the Parquet version folder."""
    if fmt == "delta":
        return DeltaTable(str(out / table), version=version).to_pyarrow_table().to_pylist()
    return pq.read_table(out / "_versions" / table / version).to_pylist()


def _vectors_of(out: Path, fmt: str, result) -> dict[str, tuple[np.ndarray, int]]:
    rows = _table_at(out, fmt, "vectors", result.details["table_versions"]["vectors"])
    assert {r["run_id"] for r in rows} == {result.run_id}
    return {r["word"]: (np.asarray(r["vector"], np.float32), r["count"]) for r in rows}


def swapvec_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # No Spark may start: SPARK_HOME points nowhere, so a JVM's start would fail.
    env = {**os.environ, "SPARK_HOME": "/nonexistent"}
    return subprocess.run([str(BIN / "swapvec"), *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def assert_one_line_error(proc: subprocess.CompletedProcess, text: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swapvec: ")]
    assert len(errors) == 1 and text in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------------- swapvec.run
def test_run_returns_the_runs_id_metrics_and_its_tables_at_the_versions_it_wrote(delta_runs):
    out, first, second, _ = delta_runs
    assert first.status == "succeeded" and first.config.train.min_count == 1 and first.config.train.seed == 1
    assert second.config.train.seed == 2 and second.config.run.key == "7"
    assert first.metrics["group_hub_first"] == 1.0 and first.row_counts["sentences"] == 200
    assert {"vectors", "model", "replay", "similarities"} <= set(first.tables)
    # The second run overwrote every table; the first run's result still reads its own versions.
    current = DeltaTable(str(out / "vectors")).to_pyarrow_table()
    assert set(current.column("run_id").to_pylist()) == {second.run_id}
    for result in (first, second):
        for name, df in result.tables.items():
            assert {r.run_id for r in df.select("run_id").distinct().collect()} == {result.run_id}, name
    nearest = {r.word: r.neighbor for r in first.similarities.where("rank = 1").collect()}
    assert {w: nearest[w] for w in MEMBERS} == dict.fromkeys(MEMBERS, "entertainment")
    first_vectors = {r.word: r.vector for r in first.vectors.collect()}
    second_vectors = {r.word: r.vector for r in second.vectors.collect()}
    assert first_vectors.keys() == second_vectors.keys() and first_vectors != second_vectors
    runs = {r["run_id"]: r for r in DeltaTable(str(out / "runs")).to_pyarrow_table().to_pylist()}
    assert json.loads(runs[first.run_id]["details"])["table_versions"] == first.details["table_versions"]
    assert "promises kept by training alone: 1 of 1 group" in first.summary


def test_a_run_key_that_already_succeeded_returns_that_runs_tables(delta_runs):
    _, _, second, skipped = delta_runs
    assert skipped.status == "skipped" and skipped.same_as == second.run_id and skipped.run_id != second.run_id
    measured = lambda metrics: {k: v for k, v in metrics.items() if not np.isnan(v)}  # noqa: E731
    assert measured(skipped.metrics) == measured(second.metrics) and skipped.tables.keys() == second.tables.keys()
    assert {r.run_id for r in skipped.vectors.select("run_id").distinct().collect()} == {second.run_id}


def test_a_yaml_file_with_overrides_and_parquet_tables(parquet_run):
    out, result = parquet_run
    assert result.config.train.backend == "mllib" and result.config.output.format == "parquet"
    assert _vectors_of(out, "parquet", result).keys() == {"entertainment", *MEMBERS}
    assert {r.run_id for r in result.similarities.select("run_id").distinct().collect()} == {result.run_id}


@pytest.mark.parametrize(
    ("config", "overrides", "message"),
    [
        ({"train": {"windw": 3}}, None, "config: train.windw: unknown key; did you mean 'train.window'?"),
        ({"input.path": "nowhere.txt"}, None, "input.path does not exist: nowhere.txt"),
        (None, {"train.epochs": "many"}, "config: train.epochs: Input should be a valid integer"),
        ("missing.yaml", None, "config file not found: missing.yaml"),
    ],
)
def test_bad_input_raises_bad_input_and_writes_nothing(spark, tmp_path, monkeypatch, config, overrides, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(swapvec.BadInput) as raised:
        swapvec.run(spark, config, overrides)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_the_run_meant_is_the_newest_that_wrote_the_table_a_skipped_one_stands_for_its_earlier_run(tmp_path):
    import datetime as dt

    from swapvec.results import RunRow, find_run, version_folder

    def row(run_id: str, hour: int, status: str = "succeeded", command: str = "run", **details) -> RunRow:
        return RunRow(run_id, command, status, dt.datetime(2026, 1, 1, hour), details=details)

    rows = [
        row("a", 1, table_versions={"vectors": 0}),
        row("b", 2, table_versions={"vectors": 1}),
        row("c", 3, command="evaluate"),
        row("d", 4, "failed", table_versions={"vectors": 2}),
        row("e", 5, "skipped", same_as="a"),
    ]
    assert find_run(rows, "out").run_id == "b"  # not the later evaluate, nor the failed run
    assert find_run(rows, "out", "a").versions == {"vectors": 0} and find_run(rows, "out", "e").run_id == "a"
    for run_id, message in (("c", "run c under out (evaluate) wrote no vectors"), ("d", "run d under out failed")):
        with pytest.raises(swapvec.BadInput, match=re.escape(message)):
            find_run(rows, "out", run_id)
    with pytest.raises(swapvec.BadInput, match="no succeeded run under out wrote vectors"):
        find_run(rows[2:4], "out")
    with pytest.raises(swapvec.BadInput, match="is gone: a Parquet version is kept until output.retention_hours"):
        version_folder(tmp_path, "vectors", "20260101T000000.000000-abcdef12")


# -------------------------------------------------------------------------------------------------------- export
@pytest.fixture(params=["delta", "parquet"])
def exported(request, tmp_path):
    """Each format's run, exported by the console script to the three file formats."""
    if request.param == "delta":
        out, _, result, _ = request.getfixturevalue("delta_runs")
    else:
        out, result = request.getfixturevalue("parquet_run")
    files = {}
    for fmt, name in (("word2vec", "v.bin"), ("word2vec-text", "v.txt"), ("keyedvectors", "v.kv")):
        set_format = ["--set", f"output.format={request.param}"] if request.param == "parquet" else []
        proc = swapvec_cli(
            "export", "--set", f"output.path={out}", *set_format, "--to", name, "--format", fmt, cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (
            f"swapvec: export done: 4 words x 100 dimensions of run {result.run_id} to {tmp_path / name}" in proc.stdout
        )
        files[fmt] = tmp_path / name
    return request.param, out, result, files


@pytest.mark.spark
def test_exported_vectors_are_the_tables_float32_in_gensims_order_and_the_hub_comes_first(exported):
    fmt, out, result, files = exported
    table = _vectors_of(out, fmt, result)
    binary = KeyedVectors.load_word2vec_format(str(files["word2vec"]), binary=True)
    assert binary.most_similar("movies")[0][0] == "entertainment"
    order = sorted(table, key=lambda w: (-table[w][1], w))  # count descending, then word
    assert order[0] == "entertainment"
    text = KeyedVectors.load_word2vec_format(str(files["word2vec-text"]), binary=False)
    native = KeyedVectors.load(str(files["keyedvectors"]))
    for kv in (binary, text, native):
        assert kv.index_to_key == order and kv.vectors.dtype == np.float32
        assert all(np.array_equal(kv[w], table[w][0]) for w in order)  # bit for bit; text to its printed digits
    assert [native.get_vecattr(w, "count") for w in order] == [table[w][1] for w in order]
    # The same bytes as gensim's own binary file of those vectors.
    theirs = KeyedVectors(vector_size=100)
    theirs.add_vectors(order, np.array([table[w][0] for w in order]))
    for w in order:
        theirs.set_vecattr(w, "count", table[w][1])
    theirs.save_word2vec_format(str(files["word2vec"]) + ".gensim", binary=True)
    assert files["word2vec"].read_bytes() == Path(str(files["word2vec"]) + ".gensim").read_bytes()
    assert sorted(p.name for p in files["word2vec"].parent.iterdir()) == ["v.bin", "v.bin.gensim", "v.kv", "v.txt"]


def test_export_and_load_read_the_run_asked_for_with_or_without_spark(delta_runs, tmp_path, monkeypatch):
    out, first, second, skipped = delta_runs
    proc = swapvec_cli(
        "export",
        "--set",
        f"output.path={out}",
        "--run-id",
        first.run_id,
        "--to",
        "old.bin",
        "--format",
        "word2vec",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    old = KeyedVectors.load_word2vec_format(str(tmp_path / "old.bin"), binary=True)
    table = _vectors_of(out, "delta", first)
    assert all(np.array_equal(old[w], table[w][0]) for w in table)
    newest = swapvec.load_keyedvectors(out)  # no run id: the newest succeeded run that wrote vectors
    assert all(np.array_equal(newest[w], v) for w, (v, _) in _vectors_of(out, "delta", second).items())
    # A skipped run stands for the run it names.
    assert np.array_equal(swapvec.load_keyedvectors(str(out), skipped.run_id).vectors, newest.vectors)
    # With Spark (a result's vectors), in several slices of the table: the same vectors, order and counts.
    monkeypatch.setattr("swapvec.results.SLICE_BYTES", 600)
    with_spark = first.keyedvectors()
    assert with_spark.index_to_key == old.index_to_key and np.array_equal(with_spark.vectors, old.vectors)
    assert with_spark.get_vecattr("entertainment", "count") == 200


def test_the_export_job_behaves_as_the_console_script(tmp_path):
    job = Path(__file__).resolve().parents[1] / "jobs" / "export_job.py"
    proc = subprocess.run(
        [sys.executable, str(job), "--to", "x.bin", "--format", "nope"], cwd=tmp_path, capture_output=True, text=True
    )
    assert_one_line_error(proc, "unknown format 'nope': one of word2vec, word2vec-text, keyedvectors")


def test_the_help_names_every_export_format():
    from swapvec.cli import _EXPORT_FORMATS
    from swapvec.export import FORMATS

    assert all(f"{fmt} " in _EXPORT_FORMATS + " " for fmt in FORMATS)


def test_bad_export_input_is_one_line_exit_2_and_leaves_the_users_files(spark, delta_runs, parquet_run, tmp_path):
    out, first, _, _ = delta_runs
    (tmp_path / "mine.bin").write_bytes(b"the user's own file")
    (tmp_path / "kv.vectors.npy").write_bytes(b"the user's own matrix")
    (tmp_path / "folder").mkdir()
    base = ["export", "--set", f"output.path={out}"]
    cases = [
        ([*base, "--to", "mine.bin", "--format", "word2vec"], "mine.bin exists: pass --force to replace it"),
        ([*base, "--to", "kv", "--format", "keyedvectors"], "kv.vectors.npy exists: pass --force to replace it"),
        ([*base, "--to", "x.bin", "--format", "fasttext"], "unknown format 'fasttext': one of word2vec, word2vec-text"),
        ([*base, "--to", "x.bin", "--format", "word2vec", "--run-id", "nope"], f"no run nope under {out}"),
        ([*base, "--to", "folder", "--format", "word2vec"], "--to folder is a folder: name the file to write"),
        ([*base, "--to", "no/x.bin", "--format", "word2vec"], f"--to no/x.bin: there is no folder {tmp_path / 'no'}"),
        (["export", "--set", "output.path=empty", "--to", "x.bin", "--format", "word2vec"], "no tables at empty"),
        ([*base, "--set", "output.format=parquet", "--to", "x.bin", "--format", "word2vec"], "set output.format=delta"),
        (["export", "--to", "x.bin"], "the following arguments are required: --format"),
    ]
    # A run that wrote no vectors: `swapvec evaluate` reads them and writes none.
    from swapvec.pipeline import execute

    parquet_out, result = parquet_run
    evaluated = execute(spark, result.config, "evaluate")
    no_vectors = ["--set", f"output.path={parquet_out}", "--set", "output.format=parquet", "--run-id", evaluated.run_id]
    cases.append((["export", *no_vectors, "--to", "x.bin", "--format", "word2vec"], "(evaluate) wrote no vectors"))
    for args, message in cases:
        assert_one_line_error(swapvec_cli(*args, cwd=tmp_path), message)
    assert (tmp_path / "mine.bin").read_bytes() == b"the user's own file"
    assert (tmp_path / "kv.vectors.npy").read_bytes() == b"the user's own matrix"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "kv.vectors.npy", "mine.bin"]  # no file half made
    # Asked to, it replaces the file, whole.
    proc = swapvec_cli(*base, "--to", "mine.bin", "--format", "word2vec", "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert KeyedVectors.load_word2vec_format(str(tmp_path / "mine.bin"), binary=True).index_to_key[0] == "entertainment"
    with pytest.raises(swapvec.BadInput, match="no run nope under"):
        swapvec.load_keyedvectors(out, run_id="nope")
