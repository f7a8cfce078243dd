"""Run keys: a scheduled run retried with the same key writes once, and `runs` says what happened."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import types as T

from swapvec.errors import BadInput
from swapvec.pipeline import execute
from swapvec.store import Store
from tests.conftest import read_independently

FAST = ("train.backend=mllib", "train.epochs=1")
OUTPUTS = ("vectors", "similarities")


def _versions(out: str) -> dict[str, int]:
    return {t: DeltaTable(f"{out}/{t}").version() for t in OUTPUTS}


def _runs(out: str, fmt: str = "delta") -> list[dict]:
    table = read_independently(f"{out}/runs", fmt)
    return sorted(table.to_pylist(), key=lambda r: r["started_at"])


def test_same_key_twice_writes_once_and_a_new_key_writes(spark, seed_case):
    cfg = seed_case(*FAST, "run.key=2026-11-25")
    out = cfg.output.path
    first = execute(spark, cfg, "run")
    versions = _versions(out)

    again = execute(spark, seed_case(*FAST, "run.key=2026-11-25T00:00:00Z"), "run")  # the same logical date
    assert again.status == "skipped" and again.details["same_as"] == first.run_id
    assert _versions(out) == versions
    assert {t: set(DeltaTable(f"{out}/{t}").to_pyarrow_table().column("run_id").to_pylist()) for t in OUTPUTS} == {
        t: {first.run_id} for t in OUTPUTS
    }
    runs = _runs(out)
    assert [(r["run_id"], r["status"], r["run_key"]) for r in runs] == [
        (first.run_id, "succeeded", "2026-11-25"),
        (again.run_id, "skipped", "2026-11-25"),
    ]
    assert json.loads(runs[1]["details"])["same_as"] == first.run_id

    later = execute(spark, seed_case(*FAST, "run.key=2026-11-26"), "run")
    assert later.status == "succeeded"
    assert _versions(out) == {t: v + 1 for t, v in versions.items()}
    assert set(DeltaTable(f"{out}/vectors").to_pyarrow_table().column("run_id").to_pylist()) == {later.run_id}
    history = DeltaTable(f"{out}/vectors").history(1)[0]
    metadata = json.loads(history["userMetadata"])  # the config as a digest: what a retry of the key compares
    assert re.fullmatch("[0-9a-f]{16}", metadata.pop("config"))
    assert metadata == {"run_id": later.run_id, "run_key": "2026-11-26"}

    # A backfill of an older date must not overwrite a newer date's output: Delta skips it, and `runs` says so.
    older = execute(spark, seed_case(*FAST, "run.key=2026-11-24"), "run")
    assert _versions(out) == {t: v + 1 for t, v in versions.items()}
    assert older.status == "succeeded" and older.details["tables_kept"] == ["vectors", "similarities"]

    # A whole number after dates does not order against them: it kept every table, wrote nothing, said "done".
    with pytest.raises(
        BadInput, match=r"run.key 5 is a whole number, but .*vectors was written with run key 2026-11-26"
    ):
        execute(spark, seed_case(*FAST, "run.key=5"), "run")
    assert _versions(out) == {t: v + 1 for t, v in versions.items()}


def _failing(monkeypatch, table: str) -> None:
    """Make every write of ``table`` fail, as a full disk would, after the tables written before it committed."""
    write = Store.write

    def failing_write(self, df, name, **kwargs):
        if name == table:
            raise OSError(f"No space left on device: {table}")
        return write(self, df, name, **kwargs)

    monkeypatch.setattr(Store, "write", failing_write)


def _fails_at_similarities(spark, cfg, monkeypatch) -> dict:
    """Run ``cfg`` with every ``similarities`` write failing, after ``vectors`` committed; its ``failed`` row."""
    with monkeypatch.context() as failing:
        _failing(failing, "similarities")
        with pytest.raises(OSError, match="similarities"):
            execute(spark, cfg, "run")
    return _runs(cfg.output.path)[-1]


def _run_ids(out: str, table: str, version: int | None = None) -> set[str]:
    return set(DeltaTable(f"{out}/{table}", version=version).to_pyarrow_table().column("run_id").to_pylist())


def _read_together(out: str, row: dict) -> dict[str, set[str]]:
    """The README's recipe: each table at the version the run's row names, and the runs whose rows they hold."""
    return {t: _run_ids(out, t, v) for t, v in json.loads(row["details"])["table_versions"].items()}


def test_a_retry_after_a_failure_midway_completes_what_is_missing(spark, seed_case, monkeypatch, capsys):
    from swapvec import cli, session
    from swapvec.log import setup_logging

    cfg = seed_case(*FAST, "run.key=7")
    out = cfg.output.path
    failed = _fails_at_similarities(spark, cfg, monkeypatch)
    vectors_version = DeltaTable(f"{out}/vectors").version()
    assert len(_runs(out)) == 1
    assert failed["status"] == "failed" and failed["run_key"] == "7"

    # The retry as a scheduler runs it, with the same config: from the console, in this session.
    monkeypatch.setattr(session, "get_spark", lambda *args, **kwargs: spark)
    monkeypatch.chdir(Path(out).parent)  # no conf/local.yaml to read
    given = [f"input.path={cfg.input.path}", f"augment.groups_path={cfg.augment.groups_path}", f"output.path={out}"]
    settings = [*given, "train.min_count=1", *FAST, "run.key=7"]
    try:
        assert cli.main(["run", *[a for setting in settings for a in ("--set", setting)]]) == 0
    finally:
        setup_logging("text", "WARNING")  # as the suite's session set it; main set the run's level
    retry = _runs(out)[-1]
    details, metrics = json.loads(retry["details"]), dict(retry["metrics"])
    assert retry["status"] == "succeeded" and details["tables_kept"] == ["vectors"]
    # Decided before training: the retry does not train, and its metrics are those of the vectors it kept.
    assert not any(k.startswith("train_") for k in metrics), metrics
    assert "augmentation_factor" not in metrics and "ws353" in metrics
    assert DeltaTable(f"{out}/vectors").version() == vectors_version  # written once, by the failed attempt
    assert _run_ids(out, "vectors") == {failed["run_id"]} and _run_ids(out, "similarities") == {retry["run_id"]}
    assert details["vectors_of_run"] == failed["run_id"]  # similarities of the vectors the table keeps
    # Its row names every table of its output, the kept one too, so that they can be read together.
    assert _read_together(out, retry) == {"vectors": {failed["run_id"]}, "similarities": {retry["run_id"]}}
    # And it says which run wrote what it kept: this key's earlier attempt, not "a later run key".
    done = capsys.readouterr().out.splitlines()[-1]
    assert done.endswith(
        f"; kept vectors as run {failed['run_id']} wrote them (this run key's earlier attempt, the same config)"
    )
    assert [r["status"] for r in _runs(out)] == ["failed", "succeeded"]
    assert execute(spark, cfg, "run").status == "skipped"


def test_a_parquet_backfill_of_an_older_key_keeps_the_newer_keys_tables(spark, seed_case):
    """As Delta does: each Parquet version records the key that wrote it, and an older key's write is skipped."""
    newer = execute(spark, seed_case(*FAST, "output.format=parquet", "run.key=2026-01-02"), "run")
    out = seed_case().output.path
    current = {t: os.readlink(f"{out}/{t}") for t in OUTPUTS}
    older = execute(spark, seed_case(*FAST, "output.format=parquet", "run.key=2026-01-01"), "run")
    assert older.status == "succeeded" and older.details["tables_kept"] == ["vectors", "similarities"]
    assert {t: os.readlink(f"{out}/{t}") for t in OUTPUTS} == current
    for table in OUTPUTS:
        assert set(read_independently(f"{out}/{table}", "parquet").column("run_id").to_pylist()) == {newer.run_id}
    later = execute(spark, seed_case(*FAST, "output.format=parquet", "run.key=2026-01-03"), "run")
    assert "tables_kept" not in later.details and {t: os.readlink(f"{out}/{t}") for t in OUTPUTS} != current


def test_a_retry_with_another_config_makes_every_table_again(spark, seed_case, monkeypatch):
    """A run key's retry continues only what the same key and the same configuration began: a retry with another
    vector size and seed kept the failed attempt's vectors, recorded its own settings, and named only the table it
    wrote in ``table_versions``."""
    first = seed_case(*FAST, "run.key=2")
    out = first.output.path
    failed = _fails_at_similarities(spark, first, monkeypatch)
    assert len(_runs(out)) == 1

    retry = execute(spark, seed_case(*FAST, "run.key=2", "train.vector_size=50", "train.seed=7"), "run")
    assert retry.status == "succeeded" and "tables_kept" not in retry.details
    vectors = DeltaTable(f"{out}/vectors").to_pyarrow_table()
    assert set(vectors.column("run_id").to_pylist()) == {retry.run_id}
    assert {len(v) for v in vectors.column("vector").to_pylist()} == {50}
    row = _runs(out)[-1]
    assert json.loads(row["config"])["train"]["vector_size"] == 50
    assert _read_together(out, row) == {"vectors": {retry.run_id}, "similarities": {retry.run_id}}
    assert failed["run_id"] not in _run_ids(out, "similarities")


def test_a_key_retried_with_its_first_config_after_another_makes_that_configs_tables(spark, seed_case, monkeypatch):
    """The first config, the second, the first again, each failing after it committed `vectors` but the last: the
    last must write its own vectors, though Delta has recorded its config's write of this key already."""
    configs = [(), ("train.seed=7",), ()]
    ids = []
    for attempt, extra in enumerate(configs):
        cfg = seed_case(*FAST, "run.key=3", *extra)
        if attempt < len(configs) - 1:
            ids.append(_fails_at_similarities(spark, cfg, monkeypatch)["run_id"])
        else:
            ids.append(execute(spark, cfg, "run").run_id)
        assert _run_ids(cfg.output.path, "vectors") == {ids[-1]}
    assert _read_together(cfg.output.path, _runs(cfg.output.path)[-1]) == dict.fromkeys(OUTPUTS, {ids[-1]})


def test_parquet_skips_a_completed_key_by_the_runs_table(spark, seed_case):
    cfg = seed_case(*FAST, "output.format=parquet", "run.key=2026-11-25")
    out = cfg.output.path
    first = execute(spark, cfg, "run")
    targets = {t: os.readlink(f"{out}/{t}") for t in OUTPUTS}
    again = execute(spark, cfg, "run")
    assert again.status == "skipped" and {t: os.readlink(f"{out}/{t}") for t in OUTPUTS} == targets
    assert [(r["run_id"], r["status"]) for r in _runs(out, "parquet")] == [
        (first.run_id, "succeeded"),
        (again.run_id, "skipped"),
    ]


def test_a_runs_table_from_before_run_keys_gains_the_column(spark, seed_case):
    from swapvec.runs import RUNS_SCHEMA

    cfg = seed_case(*FAST, "run.key=1")
    old_schema = T.StructType([f for f in RUNS_SCHEMA.fields if f.name != "run_key"])
    old_row = ("old", "run", "succeeded", dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1), "{}", {}, {}, "{}", None)
    runs = f"{cfg.output.path}/runs"
    spark.createDataFrame([old_row], old_schema).write.format("delta").save(runs)
    with pytest.raises(BadInput, match="can be claimed"):  # written before swapvec marked its tables
        execute(spark, cfg, "tokenize")
    spark.sql(f"ALTER TABLE delta.`{runs}` SET TBLPROPERTIES ('swapvec.owner' = 'swapvec')")  # as the error says
    execute(spark, cfg, "tokenize")
    assert execute(spark, cfg, "tokenize").status == "skipped"
    assert [(r["run_id"] == "old", r["status"], r["run_key"]) for r in _runs(cfg.output.path)] == [
        (True, "succeeded", None),
        (False, "succeeded", "1"),
        (False, "skipped", "1"),
    ]
