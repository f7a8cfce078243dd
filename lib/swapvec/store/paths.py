"""Where things are: the one rule that tells a URI from a local path, and where each table lives.

A path that starts with a scheme of two or more letters and a colon (``s3://bucket/x``, ``abfss://...``,
``dbfs:/x``, ``gs://...``) is a URI: it goes to Spark as it is, and only Spark can tell whether it exists. Its scheme
must be followed by ``/``: Hadoop reads ``out:1`` as a URI too, with a relative path that fails only inside a job,
so such a path is refused before Spark starts (:func:`check_location`). ``file:`` URIs and everything else
(``warehouse``, ``/data/corpus.txt``, ``C:\\data``) are local: swapvec checks them before a session starts, and
makes them absolute against the working directory. A ``file:`` URI names this machine's files only without a host or
with ``localhost`` (``file:/x``, ``file:///x``, ``file://localhost/x`` are all ``/x``); another host is refused
rather than read as a folder of the working directory.
"""

from __future__ import annotations

import re
from pathlib import Path

from swapvec.errors import BadInput

_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):")
#: A ``file:`` URI: ``file:PATH`` or ``file://AUTHORITY/PATH`` (the authority may carry user information).
_FILE_URI = re.compile(r"(?i)file:(//(?P<authority>[^/]*))?(?P<path>.*)", re.DOTALL)
#: The hosts of a ``file:`` URI that name this machine (RFC 8089: none, or ``localhost``).
_THIS_MACHINE = ("", "localhost")


def is_uri(path: str) -> bool:
    """True for ``scheme:...`` paths other than ``file:``, which only Spark (or its file systems) can reach.

    Examples
    --------
    >>> [is_uri(p) for p in ("s3://b/x", "dbfs:/x", "file:/tmp/x", "warehouse", "C:/data")]
    [True, True, False, False, False]
    """
    found = _SCHEME.match(path)
    return found is not None and found["scheme"].lower() != "file"


def check_location(path: str, key: str) -> None:
    """Refuse, before Spark starts, a path that is neither a URI Spark can use nor a local path.

    Raises
    ------
    BadInput
        ``scheme:`` not followed by ``/`` (``out:1``, ``s3:bucket``), or a ``file:`` URI of another host.
    """
    found = _SCHEME.match(path)
    if found is not None and found["scheme"].lower() != "file" and not path[found.end() :].startswith("/"):
        raise BadInput(
            f"{key} {path}: not a URI ({found['scheme']}: must be followed by '/': {found['scheme']}:/path or "
            f"{found['scheme']}://host/path), and a local path cannot start with a name and ':', which Spark reads "
            "as a scheme"
        )
    try:
        local_path(path)
    except BadInput as exc:
        raise BadInput(f"{key} {exc}") from None


def local_path(path: str) -> Path:
    """A local path (a ``file:`` URI of this machine allowed) made absolute against the working directory.

    Examples
    --------
    >>> [str(local_path(p)) for p in ("/tmp/x", "file:/tmp/x", "file:///tmp/x", "file://localhost/tmp/x")]
    ['/tmp/x', '/tmp/x', '/tmp/x', '/tmp/x']

    Raises
    ------
    BadInput
        A ``file:`` URI whose host is not this machine (``file://server/share/x``).
    """
    found = _FILE_URI.fullmatch(path)
    if found is not None:
        # The authority less its user information and port: ``file://user:pw@localhost:0/x`` is this machine's.
        host = re.sub(r":\d*$", "", (found["authority"] or "").rpartition("@")[2])
        if host.lower() not in _THIS_MACHINE:
            raise BadInput(
                f"{path}: a file URI with the host {host!r} names another machine's files; swapvec reads and writes "
                "this machine's (or a mounted share's): write file:///path or /path"
            )
        path = found["path"]
    return Path(path).absolute()


def absolute(path: str) -> str:
    """What Spark is given: a URI as it is, a local path absolute against this process's working directory (a
    Spark Connect server would read a relative path against its own)."""
    return path if is_uri(path) else str(local_path(path))


def table_path(base: str, table: str) -> str:
    """``<base>/<table>``: a URI stays a URI, a local path becomes absolute."""
    return f"{absolute(base).rstrip('/')}/{table}"
