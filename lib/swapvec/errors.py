"""The two kinds of failure a scheduler must tell apart, and the exit codes that carry them.

``BadInput`` (exit 2) means the run cannot succeed as configured: a bad config, a missing path, an empty corpus.
Retrying is pointless; fix the input. Any other failure (exit 1) may be transient (a lost executor, storage
throttling) and is worth retrying. Exit 130 means the run was interrupted (Ctrl-C), 143 that it was terminated
(SIGTERM).
"""

from __future__ import annotations

import re
import signal

from swapvec.log import mask

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


#: The signal that asked the run to stop, noted by the CLI's handler (:func:`note_stop`); None while none did.
_stop: dict[str, int | None] = {"signal": None}


def note_stop(signum: int | None) -> None:
    """Note the signal that asked the run to stop (None: none yet, as a command starts)."""
    _stop["signal"] = signum


def stopped_by(exc: BaseException | None = None) -> str | None:
    """How the run was stopped, when it was: ``interrupted (SIGINT)`` (Ctrl-C) or ``terminated (SIGTERM)``, from the
    signal noted (:func:`note_stop`), or a KeyboardInterrupt raised without one (a notebook's interrupt); None when
    nothing stopped it. What a cancelled Spark job raises in its place is a stop too, not a failure of the job."""
    signum = _stop["signal"]
    if signum is None and isinstance(exc, KeyboardInterrupt):
        signum = signal.SIGINT
    if signum is None:
        return None
    return f"{'terminated' if signum == signal.SIGTERM else 'interrupted'} ({signal.Signals(signum).name})"


def stop_point() -> None:
    """Raise KeyboardInterrupt if a stop was asked: at each stage's start and each training round. The stop's own
    KeyboardInterrupt is lost when its handler runs inside a finaliser (py4j collects its objects in ``__del__``, by
    the hundred), where Python can only print it: a Ctrl-C in training let a run go on to the end, exit 0."""
    if _stop["signal"] is not None:
        raise KeyboardInterrupt


class SwapvecError(Exception):
    """Base of swapvec's own errors; the message is one line meant for the user."""

    exit_code = EXIT_FAILED


class BadInput(SwapvecError):
    """The input or config is wrong; retrying the same run will fail the same way."""

    exit_code = EXIT_BAD_INPUT


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, at most ``limit`` characters; its type's name when it has none.

    PySpark's errors carry the JVM's stack after the first line; the first line says what happened. A raw Py4J error's
    first line only names the call (``An error occurred while calling o44.sql.``): the Java exception's root cause
    is what happened (``No FileSystem for scheme "s3"``), so that is the line. Credentials written in it (a URI's
    password, a ``password=`` option) are masked: the line is printed and stored.
    """
    cause = java_cause(exc)
    text = f"{cause[0].rsplit('.', 1)[-1]}: {cause[1]}" if cause else str(exc).strip()
    return mask(text.splitlines()[0])[:limit] if text else type(exc).__name__


def java_cause(exc: BaseException) -> tuple[str, str] | None:
    """The class name and message of the root cause of a Py4J error's Java exception; None for other errors, or
    when the JVM can no longer be asked."""
    java = getattr(exc, "java_exception", None)
    if java is None:
        return None
    try:
        while java.getCause() is not None and java.getCause() != java:
            java = java.getCause()
        return str(java.getClass().getName()), str(java.getMessage() or "").strip()
    except Exception:  # the gateway is gone (the JVM exited): the Python side's text is all there is
        return None


#: A file system Hadoop knows no class for (``nofs://``, ``dbfs:/`` off Databricks): retrying fails the same way.
_NO_FILE_SYSTEM = "org.apache.hadoop.fs.UnsupportedFileSystemException"
#: A file system whose class Hadoop knows (``fs.s3a.impl``) but cannot load: its connector is not on the classpath.
_MISSING_CLASS = re.compile(r"Class (?P<name>[\w.$]+FileSystem) not found")
#: The connector that holds each file system class Hadoop names by default, and the scheme it serves.
_CONNECTORS = {
    "org.apache.hadoop.fs.s3a.S3AFileSystem": ("s3a", "org.apache.hadoop:hadoop-aws"),
    "org.apache.hadoop.fs.azurebfs.AzureBlobFileSystem": ("abfs", "org.apache.hadoop:hadoop-azure"),
    "org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem": ("abfss", "org.apache.hadoop:hadoop-azure"),
    "org.apache.hadoop.fs.azure.NativeAzureFileSystem": ("wasb", "org.apache.hadoop:hadoop-azure"),
    "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem": ("gs", "com.google.cloud.bigdataoss:gcs-connector"),
}


def permanent_failure(exc: BaseException) -> str | None:
    """The one line for a failure that no retry can fix though it came from Spark, not from swapvec's own checks (a
    path's file system that this Spark has no class for, or whose connector is missing); None for any other.

    Read from the Java root cause where the JVM can be asked, else from the message (Spark Connect's errors carry the
    server's text only).
    """
    cause = java_cause(exc)
    name, text = cause if cause else ("", str(exc))
    missing = _MISSING_CLASS.search(text)
    if missing and (not cause or name == "java.lang.ClassNotFoundException"):
        scheme, package = _CONNECTORS.get(missing["name"], (None, None))
        needs = (
            f"its connector's jar ({package}, at this Spark's Hadoop version) in spark.jars.packages"
            if package
            else "its connector's jar on Spark's classpath"
        )
        what = f"{scheme}://" if scheme else "a path's file system"
        return f"the connector for {what} is missing: {missing['name']} is not on Spark's classpath; add {needs}"
    if name == _NO_FILE_SYSTEM or (not name and "No FileSystem for scheme" in text):
        return one_line(exc, 500)
    return None
