"""Where things are: the one rule that tells a URI from a local path, and where each table lives.

A path that starts with a scheme of two or more letters and a colon (``s3://bucket/x``, ``abfss://...``,
``dbfs:/x``, ``gs://...``) is a URI: it goes to Spark as it is, and only Spark can tell whether it exists. ``file:``
paths and everything else (``warehouse``, ``/data/corpus.txt``, ``C:\\data``) are local: swapvec checks them before
a session starts, and makes them absolute against the working directory.
"""

from __future__ import annotations

import re
from pathlib import Path

_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):")


def is_uri(path: str) -> bool:
    """True for ``scheme:...`` paths other than ``file:``, which only Spark (or its file systems) can reach.

    Examples
    --------
    >>> [is_uri(p) for p in ("s3://b/x", "dbfs:/x", "file:/tmp/x", "warehouse", "C:/data")]
    [True, True, False, False, False]
    """
    found = _SCHEME.match(path)
    return found is not None and found["scheme"].lower() != "file"


def local_path(path: str) -> Path:
    """A local path (``file:`` prefix allowed) made absolute against the working directory."""
    return Path(re.sub(r"^file:(//)?", "", path)).absolute()


def absolute(path: str) -> str:
    """What Spark is given: a URI as it is, a local path absolute against this process's working directory (a
    Spark Connect server would read a relative path against its own)."""
    return path if is_uri(path) else str(local_path(path))


def table_path(base: str, table: str) -> str:
    """``<base>/<table>``: a URI stays a URI, a local path becomes absolute."""
    return f"{absolute(base).rstrip('/')}/{table}"
