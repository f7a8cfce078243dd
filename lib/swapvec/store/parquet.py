"""Parquet tables made atomic: each write goes to its own version folder, and one ``rename`` switches a link to it.

``<output.path>/<table>`` is a symbolic link to ``_versions/<table>/<version>``; plain readers (Spark, pyarrow,
pandas) read it as ordinary Parquet. ``rename(2)`` of a link is atomic on a local or POSIX-mounted file system, so a
reader sees the old version or the new one. Object stores have no atomic rename: swapvec refuses Parquet output on
a URI (use Delta there).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from swapvec.errors import BadInput
from swapvec.store.delta import foreign_table_message

#: Versions kept besides the current one, so that readers that resolved the link just before a swap finish.
VERSIONS_KEPT = 2


def is_table(link: Path) -> bool:
    return link.is_symlink() and link.exists()


def foreign(link: Path) -> bool:
    """True when something other than a swapvec Parquet table (a link into its own ``_versions`` folder) is at
    ``link``."""
    if link.is_symlink():
        target = Path(os.readlink(link))
        return target.is_absolute() or target.parts[:2] != ("_versions", link.name)
    return link.exists()


def read(spark: SparkSession, link: Path) -> DataFrame:
    # The version folder, not the link: a swap during a long read must not mix two versions.
    return spark.read.parquet(str(link.resolve()))


def write(df: DataFrame, link: Path, mode: str) -> None:
    """Write ``df`` as a new version and switch ``link`` to it; ``append`` writes the old rows plus the new ones."""
    versions = link.parent / "_versions" / link.name
    if foreign(link):
        raise BadInput(foreign_table_message(str(link)))
    if mode not in ("append", "overwrite"):
        raise ValueError(f"mode {mode!r}")
    target = versions / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    versions.mkdir(parents=True, exist_ok=True)
    if mode == "append" and link.exists():
        old = read(df.sparkSession, link)
        df = old.unionByName(df, allowMissingColumns=True)
    df.write.parquet(str(target))
    tmp_link = link.parent / f".{link.name}.{uuid.uuid4().hex[:8]}.tmp"
    os.symlink(os.path.relpath(target, link.parent), tmp_link)
    os.replace(tmp_link, link)  # rename(2): readers see the old target or the new one
    _prune(versions, keep=target)


def _prune(versions: Path, keep: Path) -> None:
    old = sorted(p for p in versions.iterdir() if p.is_dir() and p != keep)
    for stale in old[: max(0, len(old) - VERSIONS_KEPT)]:
        shutil.rmtree(stale, ignore_errors=True)
