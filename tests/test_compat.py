"""The seam's fallbacks give what the newer API gives, and gensim's internals are the ones swapvec was tested with.

The suite runs on the newest Spark, where each API the seam wraps exists; these tests take it away, so that the path
an older Spark (3.5) takes is run here too, on the same data, and compared with the newer API's result.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pyspark import StorageLevel
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from swapvec import compat
from swapvec.errors import BadInput

REPO = Path(__file__).resolve().parents[1]


def _without(monkeypatch, instance, name):
    """Take ``name`` away from ``instance``'s class and every class it inherits it from, as on an older Spark."""
    for cls in type(instance).__mro__:
        if name in vars(cls):
            monkeypatch.delattr(cls, name)
    assert not hasattr(instance, name)


def _frame(spark):
    rng = np.random.default_rng(3)
    rows = [
        (int(k), int(i), [float(x) for x in rng.standard_normal(3).astype(np.float32)])
        for i, k in enumerate(rng.integers(0, 7, 300))
    ]
    return spark.createDataFrame(rows, "k int, i int, v array<float>")


def _summed(table: pa.Table) -> pa.Table:
    # A group's rows in any order give the same result: the sum of i and the count.
    return pa.table(
        {
            "k": pa.array([table.column("k")[0].as_py()], pa.int32()),
            "n": pa.array([table.num_rows], pa.int64()),
            "s": pa.array([sum(table.column("i").to_pylist())], pa.int64()),
        }
    )


SUMMED = from_arrow_schema(pa.schema([("k", pa.int32()), ("n", pa.int64()), ("s", pa.int64())]))


def test_groups_applied_without_apply_in_arrow_are_the_same_groups(spark, monkeypatch):
    df = _frame(spark)
    native = compat.apply_in_arrow(df, ["k"], _summed, SUMMED).orderBy("k").collect()
    _without(monkeypatch, df.groupBy("k"), "applyInArrow")
    fallback = compat.apply_in_arrow(df, ["k"], _summed, SUMMED).orderBy("k").collect()
    placed = compat.apply_in_arrow(df.repartition(3, "k"), ["k"], _summed, SUMMED, partitioned=True)
    assert fallback == native == placed.orderBy("k").collect()
    assert len(native) == 7 and sum(r.n for r in native) == 300


def test_groups_spread_over_many_arrow_batches_stay_whole(spark, monkeypatch):
    df = _frame(spark)
    _without(monkeypatch, df.groupBy("k"), "applyInArrow")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "7")
    try:
        got = compat.apply_in_arrow(df, ["k"], _summed, SUMMED).collect()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert sorted(r.k for r in got) == list(range(7)) and sum(r.n for r in got) == 300


def test_arrow_collected_without_to_arrow_is_the_same_table(spark, monkeypatch):
    df = _frame(spark).orderBy("i")
    native = compat.to_arrow(df)
    _without(monkeypatch, df, "toArrow")
    assert compat.to_arrow(df).equals(native)
    assert compat.to_arrow(df.limit(0)).num_rows == 0


def test_an_arrow_table_made_a_dataframe_through_pandas_keeps_float32_exactly(spark, monkeypatch):
    values = np.random.default_rng(5).standard_normal((50, 4)).astype(np.float32)
    table = pa.table(
        {
            "word": pa.array([f"w{i}" for i in range(50)]),
            "vector": pa.array(list(values), pa.list_(pa.float32())),
            "count": pa.array(range(50), pa.int64()),
        }
    )
    native = compat.from_arrow(spark, table).orderBy("count").collect()
    monkeypatch.setattr(compat, "_spark_major", lambda _spark: 3)
    before = spark.conf.get("spark.sql.execution.arrow.pyspark.enabled")
    through_pandas = compat.from_arrow(spark, table).orderBy("count").collect()
    assert through_pandas == native
    assert np.array_equal(np.array([r.vector for r in through_pandas], np.float32), values)
    assert spark.conf.get("spark.sql.execution.arrow.pyspark.enabled") == before


def test_a_checkpoint_without_local_checkpoint_keeps_the_rows(spark, monkeypatch):
    df = _frame(spark).where(F.col("k") == 2)
    _without(monkeypatch, df, "localCheckpoint")
    kept = compat.local_checkpoint(df)
    assert kept.storageLevel != StorageLevel.NONE and sorted(kept.collect()) == sorted(df.collect())
    kept.unpersist()


def test_a_map_is_read_at_a_key_given_as_a_column(spark):
    table = F.create_map(F.lit("a"), F.lit(1), F.lit("b"), F.lit(2))
    words = spark.createDataFrame([("a",), ("c",)], "w string")
    rows = words.select(
        compat.map_has_key(table, F.col("w")).alias("h"), compat.map_value(table, F.col("w")).alias("v")
    )
    assert [(r.h, r.v) for r in rows.collect()] == [(True, 1), (False, None)]


def test_error_conditions_are_read_under_either_name():
    class Spark35Error(Exception):
        def getErrorClass(self):
            return "DELTA_MISSING_DELTA_TABLE"

    class Spark4Error(Exception):
        def getCondition(self):
            return "DELTA_TABLE_ONLY_OPERATION"

    class Connect35Error(Exception):  # Spark Connect 3.5's client errors name their condition in the message only
        def getErrorClass(self):
            return None

    assert compat.error_condition(Spark35Error()) == "DELTA_MISSING_DELTA_TABLE"
    assert compat.error_condition(Connect35Error("[DELTA_TABLE_ONLY_OPERATION] `/x` is not a Delta table.")) == (
        "DELTA_TABLE_ONLY_OPERATION"
    )
    assert compat.error_condition(Spark4Error()) == "DELTA_TABLE_ONLY_OPERATION"
    assert compat.error_condition(ValueError()) is None


# ------------------------------------------------------------------------------------------ the cores a stage asks for
@pytest.mark.parametrize(
    ("version", "master", "dynamic", "refused"),
    [
        ("4.0.0", "spark://host:7077", False, None),
        ("4.2.0", "yarn", False, None),
        ("4.1.0", "k8s://https://api:6443", False, None),
        ("4.0.0", "local-cluster[2, 2, 1024]", False, None),
        ("4.0.0", "local[*,4]", False, "local mode"),
        ("4.0.0", "spark://host:7077", True, "dynamic allocation is on"),
        ("4.0.0", None, False, "not visible"),
        ("3.5.2", "spark://host:7077", False, "Spark 3.5.2: a DataFrame operation takes a resource profile from Spark"),
    ],
)
def test_a_task_profile_is_asked_for_only_where_the_cluster_manager_schedules_one(version, master, dynamic, refused):
    reason = compat.profile_refusal(version, master, dynamic, has_api=version.startswith("4"))
    assert reason is None if refused is None else refused in reason


def test_local_mode_keeps_the_sessions_cpus_a_task_and_says_why(spark):
    assert compat.executor_cores(spark) == [2] and compat.task_cpus(spark) == 1  # the suite's local[2,3]
    profile, reason = compat.task_cpus_profile(spark, 2)
    assert profile is None and reason.startswith("local mode")


def test_a_profile_the_cluster_refuses_is_recognised_from_sparks_own_error(spark):
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    profile = ResourceProfileBuilder().require(TaskResourceRequests().cpus(2)).build
    asked = compat.map_in_arrow(spark.range(4), lambda batches: batches, spark.range(0).schema, profile)
    with pytest.raises(Exception) as refused:  # local mode schedules no task profile
        asked.count()
    assert compat.is_profile_refused(refused.value)
    assert compat.map_in_arrow(spark.range(4), lambda batches: batches, spark.range(0).schema).count() == 4


# ------------------------------------------------------------------------------------------------ gensim's internals
def test_the_gensim_installed_has_every_internal_the_backend_calls():
    from swapvec.train.internals import check_gensim

    check_gensim()  # raises with the missing name if a gensim release moved one


def test_the_supported_gensim_versions_are_the_ones_pyproject_asks_for():
    from swapvec.train.internals import SUPPORTED

    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (gensim,) = [d for d in dependencies if re.match(r"gensim\b", d)]
    assert sorted(gensim.removeprefix("gensim").split(",")) == sorted(SUPPORTED)


@pytest.mark.parametrize("version", ["4.2.0", "4.3.2", "4.5.0", "5.0.1"])
def test_a_gensim_outside_the_tested_versions_is_refused_with_what_to_install(version):
    from swapvec.train.internals import check_gensim

    with pytest.raises(BadInput, match=rf"gensim {re.escape(version)} is not supported: install gensim>=4.3.3,<4.5"):
        check_gensim(version)


def test_a_gensim_without_a_kernel_is_refused_by_name(monkeypatch):
    import gensim.models.word2vec_inner as inner

    from swapvec.train.internals import check_gensim

    monkeypatch.delattr(inner, "train_batch_sg")
    with pytest.raises(BadInput, match=r"lacks gensim\.models\.word2vec_inner\.train_batch_sg"):
        check_gensim()


def test_delta_coordinates_are_the_ones_delta_spark_itself_asks_for():
    import importlib.metadata

    import pyspark
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    builder = configure_spark_with_delta_pip(SparkSession.Builder())  # configures, starts nothing
    asked = builder._options["spark.jars.packages"]
    assert asked == compat.delta_coordinates(pyspark.__version__, importlib.metadata.version("delta-spark"))
