"""Refuse, up front and with the numbers, a vocabulary the driver cannot hold: never an out-of-memory crash."""

from __future__ import annotations

from pyspark.sql import SparkSession

from swapvec.errors import BadInput

_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_bytes(text: str) -> int | None:
    """Spark's memory strings (``4g``, ``512m``, ``1024``) in bytes; None when unreadable."""
    text = text.strip().lower().removesuffix("b")
    try:
        return int(float(text[:-1]) * _UNITS[text[-1]]) if text and text[-1] in _UNITS else int(text)
    except (ValueError, IndexError):
        return None


def driver_memory(spark: SparkSession) -> int | None:
    """``spark.driver.memory`` in bytes (Spark's default, 1g, when unset); None where it cannot be read."""
    try:
        return parse_bytes(spark.conf.get("spark.driver.memory", None) or "1g")
    except Exception:  # Spark Connect may refuse to show driver settings
        return None


def check_driver_memory(spark: SparkSession, vocab_size: int, vector_size: int, need: int) -> None:
    """Raise BadInput when ``need`` bytes (the backend's driver-side arrays) exceed ``spark.driver.memory``.

    The driver's Python process is not bounded by the JVM heap, but platforms size the driver by that setting,
    so it is the budget the user configured.
    """
    limit = driver_memory(spark)
    if limit is not None and need > limit:
        raise BadInput(
            f"vocabulary too large for the driver: {vocab_size:,} words x {vector_size} dims needs "
            f"{need / 2**30:.1f} GiB, spark.driver.memory is {limit / 2**30:.1f} GiB; raise train.min_count, "
            "set train.max_vocab_size, lower train.vector_size or give the driver more memory"
        )
