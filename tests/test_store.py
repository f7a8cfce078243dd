"""The store: the one URI rule, URIs handed to Spark, and Delta writes that leave the user's session as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from deltalake import DeltaTable

from swapvec.config import OutputConfig, load_config
from swapvec.errors import BadInput
from swapvec.pipeline import execute, preflight
from swapvec.store import Store, is_uri
from swapvec.store.paths import local_path, table_path


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("s3://bucket/corpus", True),
        ("abfss://c@account.dfs.core.windows.net/x", True),
        ("dbfs:/mnt/corpus.txt", True),
        ("gs://b/x", True),
        ("file:/tmp/x", False),
        ("file:///tmp/x", False),
        ("file://localhost/tmp/x", False),
        ("warehouse", False),
        ("/data/corpus.txt", False),
        ("C:/data/corpus.txt", False),
    ],
)
def test_one_rule_tells_uris_from_local_paths(path, uri):
    assert is_uri(path) is uri


def test_table_paths_keep_uris_and_make_local_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert table_path("dbfs:/mnt/out/", "vectors") == "dbfs:/mnt/out/vectors"
    assert table_path("out", "vectors") == str(tmp_path / "out" / "vectors")
    assert local_path("file:///tmp/x") == local_path("/tmp/x")


def test_a_file_uri_of_this_machine_writes_where_it_names(spark, seed_case, tmp_path, monkeypatch):
    """``file://localhost/ABS/out`` is ``/ABS/out`` (as ``file:///ABS/out`` and ``file:/ABS/out``): it was written
    under ``./localhost/ABS/out``, and reported as written where it named."""
    monkeypatch.chdir(tmp_path)
    cfg = seed_case(f"output.path=file://localhost{tmp_path}/outU")
    execute(spark, cfg, "tokenize")
    assert (tmp_path / "outU" / "sentences" / "_delta_log").is_dir()
    assert DeltaTable(str(tmp_path / "outU" / "sentences")).to_pyarrow_table().num_rows == 200
    assert not (tmp_path / "localhost").exists()
    assert {local_path(p) for p in (f"file://localhost{tmp_path}", f"file://{tmp_path}", f"file:{tmp_path}")} == {
        tmp_path
    }


def test_an_input_uri_without_slashes_reaches_spark(spark, tmp_path):
    cfg = load_config(None, ["input.path=dbfs:/mnt/swapvec/corpus.txt", f"output.path={tmp_path / 'out'}"])
    preflight(cfg, "run")  # not refused as missing: only Spark can look behind a URI
    with pytest.raises(Exception, match='scheme "dbfs"') as raised:
        execute(spark, cfg, "run")
    assert not isinstance(raised.value, BadInput)


def test_a_missing_local_input_is_refused_before_spark():
    with pytest.raises(BadInput, match="input.path does not exist: file:/no/such/corpus.txt"):
        preflight(load_config(None, ["input.path=file:/no/such/corpus.txt"]), "run")


def test_a_delta_overwrite_below_the_default_retention_leaves_the_session_as_it_was(spark, tmp_path):
    key = "spark.databricks.delta.retentionDurationCheck.enabled"
    before = spark.conf.get(key, None)
    store = Store(OutputConfig(path=str(tmp_path), retention_hours=0), spark)
    for n in (2, 3):
        assert store.write(spark.range(n), "numbers")
    assert store.read("numbers").count() == 3
    assert spark.conf.get(key, None) == before
    # The first version's files were vacuumed: only the current version's remain.
    current = {Path(uri).name for uri in DeltaTable(str(tmp_path / "numbers")).file_uris()}
    assert {p.name for p in (tmp_path / "numbers").glob("*.parquet")} == current


def test_a_table_younger_than_the_retention_is_not_vacuumed(spark, tmp_path):
    # VACUUM could delete nothing there (no file is older than the retention), and it costs seconds a table.
    store = Store(OutputConfig(path=str(tmp_path)), spark)  # the default retention, 168 hours
    for n in (2, 3):
        assert store.write(spark.range(n), "numbers")
    current = {Path(uri).name for uri in DeltaTable(str(tmp_path / "numbers")).file_uris()}
    files = {p.name for p in (tmp_path / "numbers").glob("*.parquet")}
    assert current < files  # the first version's files are still there, as Delta's time travel needs
    assert store.read("numbers").count() == 3


def _snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_swapvec_marks_the_delta_tables_it_creates(spark, tmp_path):
    store = Store(OutputConfig(path=str(tmp_path)), spark)
    assert store.write(spark.range(2), "numbers")
    assert DeltaTable(str(tmp_path / "numbers")).metadata().configuration == {"swapvec.owner": "swapvec"}
    assert store.write(spark.range(3).selectExpr("cast(id as string) as word"), "numbers")  # a new schema keeps it
    assert not store.foreign("numbers")


@pytest.mark.parametrize("fmt", ["delta", "parquet"])
def test_a_table_swapvec_did_not_write_is_refused_before_any_work_and_left_as_it_was(spark, seed_case, fmt):
    cfg = seed_case(f"output.format={fmt}", "output.retention_hours=0")
    out = Path(cfg.output.path)
    vectors = out / "vectors"
    if fmt == "delta":  # someone else's Delta table, two versions old
        for n in (2, 3):
            spark.range(n).write.format("delta").mode("overwrite").save(str(vectors))
    else:  # someone else's Parquet folder
        spark.range(3).write.parquet(str(vectors))
    before = _snapshot(vectors)
    with pytest.raises(BadInput, match=f"^{vectors} holds data swapvec did not write"):
        execute(spark, cfg, "run")
    assert _snapshot(vectors) == before  # neither overwritten nor vacuumed
    assert not (out / "runs").exists()  # refused before the run started: nothing was recorded
    with pytest.raises(BadInput, match="holds data swapvec did not write"):  # nor by a direct write
        Store(cfg.output, spark).write(spark.range(1), "vectors")
    assert _snapshot(vectors) == before


def test_files_at_a_table_path_are_refused_and_an_empty_folder_is_not(spark, seed_case):
    cfg = seed_case()
    out = Path(cfg.output.path)
    (out / "vectors").mkdir(parents=True)  # empty: nothing to lose
    (out / "similarities").mkdir()
    (out / "similarities" / "notes.txt").write_text("mine")
    store = Store(cfg.output, spark)
    assert not store.foreign("vectors")
    with pytest.raises(BadInput, match="similarities holds data swapvec did not write"):
        execute(spark, cfg, "run")
    assert (out / "similarities" / "notes.txt").read_text() == "mine"


def _record(n: int):
    from swapvec.runs import RunRecord

    return RunRecord(run_id=f"run-{n}", command="tokenize", status="succeeded")


def test_concurrent_parquet_appends_to_runs_lose_no_row(spark, tmp_path):
    import threading

    import pyarrow.parquet as pq

    from swapvec import runs

    cfg = load_config(None, [f"output.path={tmp_path / 'out'}", "output.format=parquet"])
    store = Store(cfg.output, spark)
    runs.append(store, cfg, _record(0))
    threads = [threading.Thread(target=runs.append, args=(store, cfg, _record(n))) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = sorted(pq.read_table(tmp_path / "out" / "runs").column("run_id").to_pylist())
    assert ids == [f"run-{n}" for n in range(5)]  # each append its own file; none rewrites another's
    assert sorted(r.run_id for r in store.read("runs").collect()) == ids


def test_a_parquet_runs_table_of_the_old_layout_keeps_its_rows_when_appended_to(spark, tmp_path):
    from swapvec import runs
    from swapvec.store import parquet

    cfg = load_config(None, [f"output.path={tmp_path / 'out'}", "output.format=parquet"])
    store = Store(cfg.output, spark)
    runs.append(store, cfg, _record(0))
    old = store.read("runs").localCheckpoint(eager=True)
    # As swapvec wrote it before: a version folder, rewritten at each append; no log.
    (tmp_path / "out" / "runs").unlink()
    shutil.rmtree(tmp_path / "out" / "_versions" / "runs")
    parquet.Tables(str(tmp_path / "out"), spark).write(old, "runs", "overwrite", 168.0)
    runs.append(store, cfg, _record(1))
    assert sorted(r.run_id for r in store.read("runs").collect()) == ["run-0", "run-1"]
    assert (tmp_path / "out" / "runs").resolve().name == "log"


def test_parquet_versions_a_reader_may_hold_stay_until_the_retention(spark, tmp_path):
    from swapvec.store import parquet

    df = spark.range(3).localCheckpoint(eager=True)
    tables = parquet.Tables(str(tmp_path), spark)
    # Folders someone put beside the versions, and a version swapvec wrote years ago (named by the rule from before
    # microseconds): past the retention, only swapvec's go.
    theirs, ancient = ["a", "b", "c"], "20200101T000000-0123abcd"
    for name in (*theirs, ancient):
        (tmp_path / "_versions" / "pruned" / name).mkdir(parents=True)
        (tmp_path / "_versions" / "pruned" / name / "part-0.parquet").write_bytes(b"data")
    for hours, table in ((168.0, "kept"), (0.0, "pruned")):
        names = [tables.write(df, table, "overwrite", hours) for _ in range(5)]
        left = sorted(p.name for p in (tmp_path / "_versions" / table).iterdir())
        # Younger than the retention: every version stays readable; past it, the current one and the last two.
        assert left == (sorted(names) if hours else sorted([*theirs, *names[-3:]]))
    assert all((tmp_path / "_versions" / "pruned" / name / "part-0.parquet").read_bytes() == b"data" for name in theirs)


def test_a_table_of_the_other_format_is_named_as_such_not_as_foreign(tmp_path):
    """The same output path run again with the other ``output.format`` read as "data swapvec did not write"."""
    version = tmp_path / "_versions" / "vectors" / "20260101T000000.000000-0123abcd"
    version.mkdir(parents=True)
    (tmp_path / "vectors").symlink_to(Path("_versions", "vectors", version.name))
    (tmp_path / "model" / "_delta_log").mkdir(parents=True)
    as_delta = Store(OutputConfig(path=str(tmp_path), format="delta"), None)
    as_parquet = Store(OutputConfig(path=str(tmp_path), format="parquet"), None)
    with pytest.raises(BadInput, match="holds a parquet table and output.format is delta: set output.format=parquet"):
        as_delta.check_owned(["vectors"])
    with pytest.raises(BadInput, match="holds a delta table and output.format is parquet: set output.format=delta"):
        as_parquet.check_owned(["model"])
