"""Reading the corpus: a text file or folder, Parquet, a Delta table, or a sample that ships with gensim."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from swapvec.config import InputConfig
from swapvec.errors import BadInput, one_line
from swapvec.store.paths import absolute, check_location, is_uri, local_path

#: ``input.path: sample:NAME``: real text that ships with gensim, for demos and tests.
SAMPLES = {"lee": "lee_background.cor"}


def resolve_input_path(path: str) -> str:
    """``sample:NAME`` becomes the bundled file's path; any other path is returned as it is.

    Raises
    ------
    BadInput
        An unknown sample name.
    """
    if not path.startswith("sample:"):
        return path
    name = path.removeprefix("sample:")
    if name not in SAMPLES:
        raise BadInput(f"input.path: unknown sample {name!r}; samples: {', '.join(SAMPLES)}")
    from gensim.test.utils import datapath

    return datapath(SAMPLES[name])


#: Characters Hadoop reads as a file pattern in a path (``corpus [1].txt`` would match ``corpus 1.txt``).
_PATTERN_CHARS = "[]{}*?"


def check_no_pattern(path: str, key: str) -> None:
    """Refuse a local path holding characters Spark would read as a file pattern, naming them.

    Raises
    ------
    BadInput
        The path holds one of ``[ ] { } * ?``.
    """
    found = sorted({c for c in path if c in _PATTERN_CHARS})
    if found:
        raise BadInput(
            f"{key} {path} holds {' '.join(found)}, which Spark reads as a file pattern: rename the file or folder"
        )


def check_input(path: str | None) -> str:
    """Refuse a missing ``input.path`` before a session starts (URIs are left to Spark); return the path to read:
    ``sample:NAME`` resolved, a local path absolute.

    Raises
    ------
    BadInput
        No path, an unknown sample, a path that is neither a URI nor a local path (``paths.check_location``), or a
        local path that does not exist or holds file-pattern characters.
    """
    if not path:
        raise BadInput("config: input.path: is required (a text file or folder, a Parquet or Delta path)")
    resolved = resolve_input_path(path)
    check_location(resolved, "input.path")
    if not is_uri(resolved):
        if not local_path(resolved).exists():
            raise BadInput(f"input.path does not exist: {path}")
        check_no_pattern(resolved, "input.path")
    return absolute(resolved)


def infer_format(path: str) -> str:
    """``delta`` for a folder with ``_delta_log``, ``parquet`` for *.parquet files or folders of them, else ``text``.

    A URI is not looked into: ``parquet`` when it ends in ``.parquet``, else ``text`` (set ``input.format``).
    """
    if is_uri(path):
        return "parquet" if path.rstrip("/").endswith(".parquet") else "text"
    local = local_path(path)
    if (local / "_delta_log").is_dir():
        return "delta"
    if local.suffix == ".parquet" or (local.is_dir() and any(local.rglob("*.parquet"))):
        return "parquet"
    return "text"


def quote_identifier(name: str) -> str:
    """A column or table name as a backtick-quoted identifier, inner backticks doubled."""
    return "`" + name.replace("`", "``") + "`"


def read_corpus(spark: SparkSession, cfg: InputConfig) -> DataFrame:
    """The corpus as one string column ``text``, one row a document or line.

    Raises
    ------
    BadInput
        No path, a missing local path, or no usable text column.
    """
    path = check_input(cfg.path)
    fmt = cfg.format or infer_format(path)
    if fmt == "text":
        # Bytes that are not UTF-8 arrive as U+FFFD replacement characters, which the tokeniser drops.
        return spark.read.text(path).withColumnRenamed("value", "text")
    try:
        df = spark.read.format(fmt).load(path)
    except Exception as exc:
        raise BadInput(f"input.path {cfg.path} could not be read as {fmt}: {one_line(exc)}") from None
    strings = [f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType)]
    column = cfg.column
    if column is None:
        if not strings:  # input.column cannot help: the text must be a string column
            raise BadInput(f"input.path {cfg.path}: the {fmt} input has no string column to read the text from")
        if len(strings) > 1:
            raise BadInput(
                f"input.column: is required for {fmt} input with {len(strings)} string columns ({', '.join(strings)})"
            )
        column = strings[0]
    if column not in df.columns:
        raise BadInput(f"input.column: {column!r} is not a column of {cfg.path} (columns: {', '.join(df.columns)})")
    if column not in strings:
        raise BadInput(f"input.column: {column!r} is not a string column")
    # Quoted, so that a name with dots or backticks is a column name, never a path into a struct.
    return df.select(F.col(quote_identifier(column)).alias("text"))
