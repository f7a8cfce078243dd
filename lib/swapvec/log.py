"""Structured logs: one event per line, as ``key=value`` text or JSON lines, with secrets redacted.

Every event has a name (``stage.done``) and fields; ``event(log, "stage.done", stage="train", seconds=12.5)``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from typing import Any, TextIO

#: A part of a key's name (split at ``.``, ``_``, ``-`` and camelCase) that makes its value secret: a name for a
#: secret (``sk``, ``sas``, ``dsn``, ``credentials``...) or a part ending in key, secret, password or token
#: (``fs.azure.account.key.<account>``, ``fs.s3a.encryption.key``, ``hive.metastore.client.auth.key``, ``fs.obs.sk``,
#: ``apikey``, ``accessKeySecret``). Whole parts, so that ``tokenize.lowercase`` is no secret.
_SECRET_PART = re.compile(r"(?i)^(sk|ak|sas|dsn|pwd|passwd|passphrase|credentials?)$|(key|secret|password|token)$")
_CONNECTION_STRING = re.compile(r"(?i)connection[._-]?string")
#: swapvec's own settings and event fields named like a secret that are not one: the run key is an idempotency key.
_NOT_SECRET = ("run.key", "run_key")
_PARTS = re.compile(r"[._\-\s/]+|(?<=[a-z0-9])(?=[A-Z])")


def is_secret_key(key: str) -> bool:
    """True when the value under ``key`` (a config key, a Spark or Hadoop conf key, or a dotted path to one) is never
    logged nor stored.

    Examples
    --------
    >>> [is_secret_key(k) for k in ("spark.hadoop.fs.s3a.encryption.key", "fs.obs.sk", "run_key", "train.epochs")]
    [True, True, False, False]
    """
    if any(key == own or key.endswith("." + own) for own in _NOT_SECRET):
        return False
    return bool(_CONNECTION_STRING.search(key)) or any(_SECRET_PART.search(part) for part in _PARTS.split(key) if part)


# A password embedded in a URL or DSN (scheme://user:password@host) is a secret whatever its key is called.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)(?P<secret>[^@\s/]+)(?=@)")
REDACTED = "*********(redacted)"

_LOGGER_NAME = "swapvec"


def redact(value: Any, key: str = "") -> Any:
    """Return ``value`` with secrets replaced: values under secret-looking keys, and passwords inside URLs.

    Examples
    --------
    >>> redact({"fs.azure.account.key.x": "abc", "url": "jdbc:postgresql://u:pw@h/db"})
    {'fs.azure.account.key.x': '*********(redacted)', 'url': 'jdbc:postgresql://u:*********(redacted)@h/db'}
    """
    if isinstance(value, dict):
        # Nested keys are judged by their dotted path, so that ``run: {key: ...}`` is known as ``run.key``.
        return {k: redact(v, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if key and is_secret_key(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, value)
    return value


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        parts = [f"{stamp} {record.levelname:<7} {record.getMessage()}"]
        parts += [f"{k}={_text(v)}" for k, v in fields.items()]
        return " ".join(parts)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return json.dumps(payload, default=str)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if (" " in text or not text) else text


# ------------------------------------------------------------------------------------------- the status line
_lock = threading.Lock()
#: Streams on which a status line (``swapvec.progress``) is drawn now, with its width: a log record clears it first.
_shown: dict[int, int] = {}


class StatusLine:
    """One status line on a stream, redrawn in place with a carriage return: ``train: round 3/10, Spark job 4:
    tasks 1/2`` (the step only when the stage reports one)."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label = stream, label
        self.step: str | None = None
        self._jobs: dict[object, int] = {}

    def draw(self, done: int, total: int, job: object = None) -> None:
        """Draw ``done`` of ``total`` tasks of the Spark job (or operation) ``job``, numbered in the stage from 1."""
        number = self._jobs.setdefault(job, len(self._jobs) + 1)
        step = f"{self.step}, " if self.step else ""
        text = f"{self.label}: {step}Spark job {number}: tasks {done}/{total}"
        with _lock:
            width = _shown.get(id(self.stream), 0)
            self.stream.write("\r" + text.ljust(width))
            self.stream.flush()
            _shown[id(self.stream)] = len(text)

    def clear(self) -> None:
        clear_line(self.stream)


def clear_line(stream: TextIO) -> None:
    """Blank the progress line on ``stream``, if one is drawn, so that the next write starts a clean line."""
    with _lock:
        width = _shown.pop(id(stream), 0)
        if width:
            stream.write("\r" + " " * width + "\r")
            stream.flush()


class _Handler(logging.StreamHandler):
    """stderr, with the status line blanked before each record so that they never share one."""

    _swapvec = True

    def emit(self, record: logging.LogRecord) -> None:
        clear_line(self.stream)
        super().emit(record)


def setup_logging(fmt: str = "text", level: str = "INFO") -> logging.Logger:
    """Send swapvec's events to stderr in ``fmt`` ('text' or 'json'); idempotent."""
    logger = logging.getLogger(_LOGGER_NAME)
    logger.setLevel(level)
    logger.propagate = False
    handler = next((h for h in logger.handlers if getattr(h, "_swapvec", False)), None)
    if handler is None:
        handler = _Handler(sys.stderr)
        logger.addHandler(handler)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    return logger


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{_LOGGER_NAME}.{name}")


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event; field values are redacted by key."""
    logger.log(level, name, extra={"fields": redact(fields)})
