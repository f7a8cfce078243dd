"""Run keys: a scheduled run retried with the same key writes once, and `runs` says what happened."""

from __future__ import annotations

import datetime as dt
import json
import os

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
    assert json.loads(history["userMetadata"]) == {"run_id": later.run_id, "run_key": "2026-11-26"}

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


def test_a_retry_after_a_failure_midway_completes_what_is_missing(spark, seed_case, monkeypatch):
    cfg = seed_case(*FAST, "run.key=7")
    out = cfg.output.path
    write = Store.write

    def failing_write(self, df, table, **kwargs):  # the second table write fails, as a full disk would
        if table == "similarities":
            raise OSError("No space left on device: similarities")
        return write(self, df, table, **kwargs)

    monkeypatch.setattr(Store, "write", failing_write)
    with pytest.raises(OSError, match="similarities"):
        execute(spark, cfg, "run")
    monkeypatch.setattr(Store, "write", write)
    vectors_version = DeltaTable(f"{out}/vectors").version()
    [failed] = _runs(out)
    assert failed["status"] == "failed" and failed["run_key"] == "7"

    retry = execute(spark, cfg, "run")
    assert retry.status == "succeeded" and retry.details["tables_kept"] == ["vectors"]
    # Decided before training: the retry does not train, and its metrics are those of the vectors it kept.
    assert not any(k.startswith("train_") for k in retry.metrics), retry.metrics
    assert "augmentation_factor" not in retry.metrics and "ws353" in retry.metrics
    assert DeltaTable(f"{out}/vectors").version() == vectors_version  # written once, by the failed attempt
    assert set(DeltaTable(f"{out}/vectors").to_pyarrow_table().column("run_id").to_pylist()) == {failed["run_id"]}
    assert set(DeltaTable(f"{out}/similarities").to_pyarrow_table().column("run_id").to_pylist()) == {retry.run_id}
    assert retry.details["vectors_of_run"] == failed["run_id"]  # similarities of the vectors the table keeps
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
