"""The one seam between classic-only Spark APIs and the rest: how driver-side arrays reach the tasks.

* ``broadcast`` (classic Spark): ``sparkContext.broadcast``, fetched once per executor.
* ``files`` (Spark Connect, Databricks shared and serverless compute): ``.npy`` files staged under a path that the
  driver writes and the executors read (a local path on one machine, ``/dbfs/...`` or ``/Volumes/...`` on
  Databricks); the tasks memory-map them.

``ship`` picks broadcast when it is available and asked for (``auto``). Either way the task calls ``.value()``.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pyspark.sql import SparkSession

from swapvec.session import is_classic


class Shipped(Protocol):
    def value(self) -> dict[str, np.ndarray]: ...

    def release(self) -> None: ...


class _Broadcast:
    def __init__(self, spark: SparkSession, arrays: dict[str, np.ndarray]) -> None:
        self._bc = spark.sparkContext.broadcast(arrays)

    def value(self) -> dict[str, np.ndarray]:
        return self._bc.value

    def release(self) -> None:
        # destroy, not unpersist: unpersist keeps the driver's copy, and one run ships weights every round
        # (in local mode the driver's copies are all there is, and they filled the heap after 18 rounds).
        self._bc.destroy(blocking=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"_bc": self._bc}


#: Per Python worker: staged arrays already mapped, by folder. A retried or reused worker maps a folder once.
_MAPPED: dict[str, dict[str, np.ndarray]] = {}


class _Files:
    def __init__(self, arrays: dict[str, np.ndarray], staging: str) -> None:
        self.folder = str(Path(staging) / f"ship-{uuid.uuid4().hex}")
        Path(self.folder).mkdir(parents=True, exist_ok=False)
        for name, array in arrays.items():
            np.save(Path(self.folder) / f"{name}.npy", np.ascontiguousarray(array))
        self.names = tuple(arrays)

    def value(self) -> dict[str, np.ndarray]:
        mapped = _MAPPED.get(self.folder)
        if mapped is None:
            if len(_MAPPED) > 4:  # a worker serves one run's rounds in turn: keep only recent folders mapped
                _MAPPED.clear()
            mapped = {n: np.load(Path(self.folder) / f"{n}.npy", mmap_mode="r") for n in self.names}
            _MAPPED[self.folder] = mapped
        return mapped

    def release(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def resolve_mode(spark: SparkSession, mode: str) -> str:
    """``auto`` becomes ``broadcast`` on classic Spark and ``files`` elsewhere."""
    if mode == "auto":
        return "broadcast" if is_classic(spark) else "files"
    return mode


def ship(spark: SparkSession, arrays: dict[str, np.ndarray], mode: str, staging: str) -> Shipped:
    """Make ``arrays`` readable in tasks. ``mode`` is ``auto``, ``broadcast`` or ``files``."""
    if resolve_mode(spark, mode) == "broadcast":
        return _Broadcast(spark, arrays)
    return _Files(arrays, staging)
