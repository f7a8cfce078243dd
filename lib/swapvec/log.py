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
#: secret (``sk``, ``sas``, ``dsn``, ``pass``, ``auth``, ``sig``, ``credentials``...) or a part ending in key, secret,
#: password or token (``fs.azure.account.key.<account>``, ``hive.metastore.client.auth.key``, ``apikey``,
#: ``accessKeySecret``). Whole parts, so that ``tokenize.lowercase`` is no secret.
_SECRET_PART = re.compile(
    r"(?i)^(sk|ak|sas|dsn|pwd|pass|passwd|passphrase|auth|authorization|bearer|sig|signature|cookie|credentials?)$"
    r"|(key|secret|password|token)$"
)
_CONNECTION_STRING = re.compile(r"(?i)connection[._-]?string")
#: swapvec's own settings and event fields named like a secret that are not one: the run key is an idempotency key.
_NOT_SECRET = ("run.key", "run_key")
_PARTS = re.compile(r"[._\-\s/]+|(?<=[a-z0-9])(?=[A-Z])")


def is_secret_key(key: str) -> bool:
    """True when the value under ``key`` (a config key, a Spark or Hadoop conf key, a query parameter, a Java system
    property, or a dotted path to one) is never logged nor stored.

    Examples
    --------
    >>> [is_secret_key(k) for k in ("spark.hadoop.fs.s3a.secret.key", "spark.redis.auth", "run_key", "train.epochs")]
    [True, True, False, False]
    """
    if any(key == own or key.endswith("." + own) for own in _NOT_SECRET):
        return False
    return bool(_CONNECTION_STRING.search(key)) or any(_SECRET_PART.search(part) for part in _PARTS.split(key) if part)


#: Spark's own settings whose values are known to be harmless; every other ``spark.conf`` value is redacted, whatever
#: its key is called. Connectors and platforms name their secrets as they like (``spark.es.net.http.auth.pass``,
#: ``spark.redis.auth``, a header under ``spark.es.net.http.header.``), so no list of secret names is ever complete:
#: what is shown is what is known. Left out on purpose: ``spark.hadoop.*`` (storage credentials), a catalog's options
#: (``spark.sql.catalog.<name>.<option>``: URLs, users, passwords, tokens), Java options (``-D...password=...``),
#: executors' environment (``spark.executorEnv.*``), cluster managers' settings (``spark.kubernetes.*``).
_HARMLESS_SPARK_KEY = re.compile(
    r"spark\.("
    r"master|app\.name|submit\.deployMode|default\.parallelism|local\.dir|serializer|jars(\.[\w.]+)?"
    r"|(driver|executor)\.(memory|memoryOverhead|cores|maxResultSize|host|port|bindAddress)|executor\.instances"
    r"|task\.(cpus|maxFailures)|log\.level|logConf|pyspark\.(python|driver\.python)|python\.[\w.]+"
    r"|sql\.catalog\.[\w-]+|sql\.(?!catalog\.)[\w.-]+"
    r"|(ui|memory|shuffle|speculation|dynamicAllocation|scheduler|locality|network\.timeout|storage|rdd|io"
    r"|broadcast|kryo|kryoserializer|cleaner|files|stage|excludeOnFailure|reducer|eventLog|checkpoint"
    r"|databricks\.delta)(\.[\w.-]+)?"
    r")"
)


def is_harmless_spark_key(key: str) -> bool:
    """True when a ``spark.conf`` value under ``key`` may be logged and stored: one of Spark's (or Delta's) own
    settings known to hold no secret (:data:`_HARMLESS_SPARK_KEY`), and not named like a secret.

    Examples
    --------
    >>> [is_harmless_spark_key(k) for k in ("spark.sql.shuffle.partitions", "spark.driver.memory", "spark.redis.auth")]
    [True, True, False]
    >>> [is_harmless_spark_key(k) for k in ("spark.sql.catalog.jdbc.password", "spark.driver.extraJavaOptions")]
    [False, False]
    """
    return bool(_HARMLESS_SPARK_KEY.fullmatch(key)) and not is_secret_key(key)


REDACTED = "*********(redacted)"

#: A password or token in a URI's user information (``scheme://user:password@host``, ``scheme://:token@host``).
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)(?P<secret>[^@\s]+?)(?=@)")
#: ``name=value`` in a query (``?sig=...&token=...``), a DSN (``password=...;``), Java options
#: (``-Dapp.db.password=...``) or a setting written out: masked when ``name`` is a secret's (:func:`is_secret_key`).
_NAMED_VALUE = re.compile(
    r"(?P<head>(?:^|(?<=[\s?&;,'\"(\[{]))(?:-D)?(?P<name>[A-Za-z_][\w.\-]*)\s*=\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s&;,'\")\]}]+)"
)
#: ``'name': 'value'`` or ``"name": "value"``: a mapping written out (Python's repr, JSON).
_QUOTED_PAIR = re.compile(r"""(?P<head>(?P<q>['"])(?P<name>[\w.\-]+)(?P=q)\s*:\s*)(?P<value>'[^']*'|"[^"]*")""")
#: An HTTP credential written out: ``Bearer <token>``, ``Authorization: Basic <base64>``.
_HTTP_CREDENTIAL = re.compile(r"(?i)(?P<head>\bbearer\s+|\bauthorization\s*:\s*(?:\w+\s+)?)(?P<value>[^\s\"',;]+)")


def mask(text: str) -> str:
    """``text`` with the credentials written inside it masked, whatever it is (a path, a URL, Java options, an
    error message): passwords and tokens in URIs, secret-named ``name=value`` pairs, HTTP bearer and basic
    credentials. Every string swapvec prints or stores passes through it.

    Examples
    --------
    >>> mask("jdbc:postgresql://h/db?user=u&password=pw")
    'jdbc:postgresql://h/db?user=u&password=*********(redacted)'
    >>> mask("http://:TOKEN@host -Dapp.db.password=x")
    'http://:*********(redacted)@host -Dapp.db.password=*********(redacted)'
    """
    text = _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED, text)
    text = _HTTP_CREDENTIAL.sub(lambda m: m["head"] + REDACTED, text)
    text = _QUOTED_PAIR.sub(lambda m: m["head"] + _quoted(m["value"][0]) if is_secret_key(m["name"]) else m[0], text)
    return _NAMED_VALUE.sub(_masked_value, text)


def _quoted(quote: str) -> str:
    return quote + REDACTED + quote


def _masked_value(found: re.Match) -> str:
    if not is_secret_key(found["name"]) or found["value"].startswith(REDACTED[:9]):  # masked already
        return found[0]
    return found["head"] + REDACTED


def mask_strings(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with :func:`mask` applied to every string. Keys judge
    nothing, so that a record whose keys are the user's words (``details``' group ranks) keeps its values."""
    if isinstance(value, dict):
        return {k: mask_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_strings(v) for v in value]
    return mask(value) if isinstance(value, str) else value


_LOGGER_NAME = "swapvec"


def _spark_conf(key: str) -> bool:
    """True for the config's ``spark.conf`` section, also inside a larger record (``config.spark.conf``)."""
    return key == "spark.conf" or key.endswith(".spark.conf")


def redact(value: Any, key: str = "") -> Any:
    """Return ``value`` with secrets replaced: values under secret-looking keys, every ``spark.conf`` value but those
    of Spark's harmless settings (:func:`is_harmless_spark_key`), and credentials inside any string (:func:`mask`).

    Examples
    --------
    >>> redact({"spark": {"conf": {"spark.redis.auth": "pw", "spark.sql.shuffle.partitions": "8"}}})
    {'spark': {'conf': {'spark.redis.auth': '*********(redacted)', 'spark.sql.shuffle.partitions': '8'}}}
    >>> redact({"fs.azure.account.key.x": "abc", "url": "jdbc:postgresql://u:pw@h/db"})
    {'fs.azure.account.key.x': '*********(redacted)', 'url': 'jdbc:postgresql://u:*********(redacted)@h/db'}
    """
    if _spark_conf(key):
        # Whatever shape it was given in (a mapping, or a list of them a config error echoes), only the values of
        # known harmless settings are shown.
        if isinstance(value, dict):
            return {k: redact(v) if is_harmless_spark_key(str(k)) else _hidden(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [redact(v, key) for v in value]
        return _hidden(value)
    if isinstance(value, dict):
        # Nested keys are judged by their dotted path, so that ``run: {key: ...}`` is known as ``run.key``.
        return {k: redact(v, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if key and is_secret_key(key):
        return _hidden(value)
    return mask(value) if isinstance(value, str) else value


def _hidden(value: Any) -> Any:
    """A secret's value as shown: redacted, unless there is nothing to hide (unset or empty)."""
    return value if value in (None, "") else REDACTED


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
