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
