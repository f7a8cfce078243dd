"""The two kinds of failure a scheduler must tell apart, and the exit codes that carry them.

``BadInput`` (exit 2) means the run cannot succeed as configured: a bad config, a missing path, an empty corpus.
Retrying is pointless; fix the input. Any other failure (exit 1) may be transient (a lost executor, storage
throttling) and is worth retrying. Exit 130 means the run was interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class SwapvecError(Exception):
    """Base of swapvec's own errors; the message is one line meant for the user."""

    exit_code = EXIT_FAILED


class BadInput(SwapvecError):
    """The input or config is wrong; retrying the same run will fail the same way."""

    exit_code = EXIT_BAD_INPUT


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, at most ``limit`` characters; its type's name when it has none.

    Py4J and PySpark errors carry the JVM's stack after the first line; the first line says what happened.
    """
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
