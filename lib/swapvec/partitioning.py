"""One task per unit of work: keys that Spark's hash partitioning sends to distinct partitions.

``repartition(n, column)`` places a row in partition ``pmod(hash(column), n)``. Keyed by the unit's number (0, 1,
..., n - 1), two units often share a partition while another stays empty: one task then does the work of two and
the stage takes twice as long. ``spread_key`` maps unit ``i`` to a key whose hash partition is ``i``.
"""

from __future__ import annotations

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F


def spread_key(spark: SparkSession, n: int, unit: Column) -> Column:
    """A bigint column for ``repartition(n, ...)`` that puts unit ``i`` (``0 <= i < n``) in partition ``i``.

    The keys are found by hashing candidate bigints with Spark's own ``hash`` (the function hash partitioning
    uses), so they hold on any Spark version; the key column has the same type as the candidates, or the hash
    would differ.
    """
    rows = spark.range(0, 64 * n + 64).select("id", F.pmod(F.hash("id"), F.lit(n)).alias("p")).collect()
    keys: dict[int, int] = {}
    for row in rows:
        keys.setdefault(row.p, row.id)
    if len(keys) < n:  # not expected; units then share partitions, which costs speed, not correctness
        return unit.cast("bigint")
    return F.element_at(F.array(*[F.lit(keys[i]).cast("bigint") for i in range(n)]), unit.cast("int") + 1)
