from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from swapvec.partitioning import spread_key


@pytest.mark.parametrize("n", [2, 3, 4, 8, 13])
def test_each_unit_gets_its_own_partition(spark, n):
    # Keyed by the unit number itself, hash partitioning puts two of 4 units in one partition (and 8 in 5).
    units = spark.range(n).select(F.col("id").alias("unit"), spread_key(spark, n, F.col("id")).alias("key"))
    placed = units.repartition(n, "key").select("unit", F.spark_partition_id().alias("partition")).collect()
    assert sorted((r.unit, r.partition) for r in placed) == [(i, i) for i in range(n)]
