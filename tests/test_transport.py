"""The seam that ships per-round arrays to tasks: both transports, and no leak across rounds."""

from __future__ import annotations

import time

import numpy as np
import pytest

from swapvec.compat import resolve_mode, ship


def _read_total(spark, shipped) -> set[float]:
    def read(batches):
        import pyarrow as pa

        value = shipped.value()
        for _ in batches:
            pass
        yield pa.RecordBatch.from_pydict({"total": [float(sum(a.sum() for a in value.values()))]})

    return {r.total for r in spark.range(4).repartition(2).mapInArrow(read, "total double").collect()}


@pytest.mark.parametrize("mode", ["broadcast", "files"])
def test_tasks_read_what_the_driver_shipped(spark, tmp_path, mode):
    arrays = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "ids": np.array([5, 7], dtype=np.int64)}
    shipped = ship(spark, arrays, mode, str(tmp_path))
    assert _read_total(spark, shipped) == {66.0 + 12.0}
    shipped.release()
    if mode == "files":
        assert not any(tmp_path.iterdir())  # released: staged files removed


def _free_storage(spark) -> int:
    """Bytes free in the driver's block manager (local mode: the only one)."""
    status = spark.sparkContext._jsc.sc().getExecutorMemoryStatus()
    return sum(
        status.apply(key)._2()
        for key in spark.sparkContext._jvm.scala.jdk.javaapi.CollectionConverters.asJava(status.keys())
    )


def test_release_frees_the_drivers_copy(spark, tmp_path):
    # One run ships weights every round: a release that kept the driver's copy would grow the heap every round.
    assert resolve_mode(spark, "auto") == "broadcast"
    before = _free_storage(spark)
    rng = np.random.default_rng(0)
    for round_index in range(3):
        weights = rng.random(8 * 2**20, dtype=np.float32)  # random: a broadcast is compressed
        shipped = ship(spark, {"w": weights}, "broadcast", str(tmp_path))
        assert _read_total(spark, shipped) == {float(weights.sum())}
        assert _free_storage(spark) < before - 16 * 2**20  # 32 MiB held while the round runs
        shipped.release()
        deadline = time.monotonic() + 30
        while _free_storage(spark) < before - 4 * 2**20 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _free_storage(spark) >= before - 4 * 2**20, f"round {round_index}: the broadcast was not freed"
