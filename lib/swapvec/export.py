"""A run's vectors out of Spark, in the formats gensim, fastText, spaCy and most serving code read.

``swapvec export --to PATH --format FORMAT [--run-id ID]`` (:func:`export_vectors`) and :func:`load_keyedvectors`
read one run's ``vectors`` table at the version its ``runs`` row recorded (by default the newest succeeded run that
wrote vectors), most frequent word first: count descending, then word, as gensim orders a vocabulary.

* ``word2vec``: the C tool's binary format, ``KeyedVectors.load_word2vec_format(path, binary=True)``; the float32
  values as stored, bit for bit.
* ``word2vec-text``: its text format (``binary=False``); each value printed with the fewest digits that read back
  as the same float32, so the values are the stored ones too.
* ``keyedvectors``: gensim's own, ``KeyedVectors.load(path)``, with each word's corpus count
  (``kv.get_vecattr(word, "count")``); a matrix of 10M values or more goes beside it as ``PATH.vectors.npy``, as
  gensim saves it.

The table is read without a JVM where it can be (:func:`swapvec.results.vectors_of`), in two passes: the words and
counts (the order), then the vectors in batches, each written at its place in the file. So memory holds the
vocabulary (words, counts, offsets) and a batch, whatever ``vector_size``; ``keyedvectors`` and
:func:`load_keyedvectors` also hold the matrix, as gensim does. ``word2vec-text`` stages the float32 matrix in file
order beside the target (vocabulary x vector_size x 4 bytes of disk, removed after).

A file is written beside the target under a temporary name, then renamed: a reader sees no file or the whole file.
An existing file is replaced only with ``force``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from swapvec import results
from swapvec.arrow import to_matrix
from swapvec.errors import BadInput, SwapvecError

if TYPE_CHECKING:
    from gensim.models import KeyedVectors
    from pyspark.sql import DataFrame, SparkSession

FORMATS = ("word2vec", "word2vec-text", "keyedvectors")
#: Rows printed at a time in the text format: at 100 dimensions, about 20 MB of text while a batch is printed.
BATCH_ROWS = 16_384


@dataclass(frozen=True)
class Exported:
    """What :func:`export_vectors` wrote."""

    path: Path
    format: str
    run_id: str
    words: int
    vector_size: int
    size_bytes: int
    seconds: float


# ---------------------------------------------------------------------------------------------- order and places
@dataclass
class _Vocabulary:
    """The words in the table's order, and where each goes in the file (count descending, then word)."""

    words: pa.Array  # the table's order
    rank: np.ndarray  # a row of ``words`` -> its place in the file
    ordered: pa.Array  # the words in file order
    counts: np.ndarray  # file order

    @classmethod
    def of(cls, table: pa.Table, where: str) -> _Vocabulary:
        if table.num_rows == 0:
            raise BadInput(f"the vectors table of {where} is empty")
        table = table.combine_chunks()
        words = table.column("word").chunk(0)  # one chunk, as the table has rows
        if pc.count_distinct(words).as_py() != len(words):
            raise SwapvecError(f"the vectors table of {where} holds a word twice")
        order = pc.sort_indices(table, sort_keys=[("count", "descending"), ("word", "ascending")])
        rank = np.empty(len(words), np.int64)
        rank[order.to_numpy()] = np.arange(len(words))
        counts = pc.take(table.column("count"), order).to_numpy()
        return cls(words, rank, pc.take(words, order), counts)

    def places(self, source: results.Vectors) -> Iterator[tuple[np.ndarray, list[str], np.ndarray]]:
        """The vectors in batches, each with its rows' places in the file and their words."""
        seen = np.zeros(len(self.words), bool)
        dim, start = None, 0  # start: where the batch begins, while the batches come in the order of ``words``
        for batch in source.vectors(len(self.words)):
            if batch.num_rows == 0:
                continue
            words, end = batch.column("word"), start + batch.num_rows
            if start >= 0 and end <= len(self.words) and words.equals(self.words.slice(start, batch.num_rows)):
                rows, start = np.arange(start, end), end
            else:  # in another order: each word looked up (a hash of the vocabulary, built at each call)
                rows, start = pc.fill_null(pc.index_in(words, value_set=self.words), -1).to_numpy(), -1
            places = self.rank[rows]
            if (rows < 0).any() or seen[places].any():  # a word not in the first pass, or seen twice
                raise SwapvecError("the vectors table changed while it was read")
            seen[places] = True
            matrix = to_matrix(batch.column("vector"), dim)
            dim = matrix.shape[1]
            yield places, words.to_pylist(), matrix
        if not seen.all():
            raise SwapvecError("the vectors table changed while it was read")

    def check_words(self) -> None:
        """Refuse words the word2vec formats cannot hold (their fields are split at spaces, records at line ends)."""
        spaced = pc.filter(self.ordered, pc.match_substring_regex(self.ordered, "[ \n]"))
        if len(spaced):
            raise BadInput(
                f"the word {spaced[0].as_py()!r} holds a space or a line break, which the word2vec formats cannot "
                "hold: use --format keyedvectors"
            )


# -------------------------------------------------------------------------------------------------------- writers
def _binary(file: Path, vocab: _Vocabulary, source: results.Vectors) -> int:
    """The word2vec binary format: ``"<words> <dim>\\n"``, then per word its UTF-8 bytes, a space and its float32
    values (gensim writes no line end after them), each record written at its offset."""
    lengths = pc.binary_length(vocab.ordered).to_numpy().astype(np.int64) + 1
    with open(file, "wb") as handle:
        fd, starts, dim = handle.fileno(), None, 0
        for places, words, matrix in vocab.places(source):
            if starts is None:
                dim = matrix.shape[1]
                header = f"{len(vocab.words)} {dim}\n".encode()
                records = lengths + dim * 4
                starts = len(header) + np.concatenate([[0], np.cumsum(records)[:-1]])
                os.pwrite(fd, header, 0)
                os.ftruncate(fd, int(len(header) + records.sum()))
            for start, word, row in zip(starts[places].tolist(), words, matrix, strict=True):
                os.pwrite(fd, word.encode() + b" " + row.tobytes(), start)
    return dim


def _text(file: Path, vocab: _Vocabulary, source: results.Vectors) -> int:
    """The word2vec text format: ``"<words> <dim>"``, then a line per word: the word and its values, spaced. The
    float32 rows are staged in file order beside the target, then printed a batch at a time."""
    staging = file.with_name(f"{file.name}.rows")
    try:
        with open(staging, "wb") as rows:
            dim = 0
            for places, _, matrix in vocab.places(source):
                dim = matrix.shape[1]
                for place, row in zip(places.tolist(), matrix, strict=True):
                    os.pwrite(rows.fileno(), row.tobytes(), place * dim * 4)
        with open(staging, "rb") as rows, open(file, "wb") as out:
            out.write(f"{len(vocab.words)} {dim}\n".encode())
            for start in range(0, len(vocab.words), BATCH_ROWS):
                words = vocab.ordered.slice(start, BATCH_ROWS)
                matrix = np.fromfile(rows, np.float32, count=len(words) * dim)
                # Arrow prints a float32 with the fewest digits that read back as the same float32.
                values = pc.cast(pa.array(matrix), pa.string())
                offsets = pa.array(np.arange(0, (len(words) + 1) * dim, dim, dtype=np.int64))
                rows_text = pc.binary_join(pa.LargeListArray.from_arrays(offsets, values), " ")
                out.write(("\n".join(pc.binary_join_element_wise(words, rows_text, " ").to_pylist()) + "\n").encode())
    finally:
        staging.unlink(missing_ok=True)
    return dim


def _keyedvectors(vocab: _Vocabulary, source: results.Vectors) -> KeyedVectors:
    """gensim's KeyedVectors, in file order, with the counts (``get_vecattr(word, "count")``)."""
    from gensim.models import KeyedVectors

    matrix = None
    for places, _, rows in vocab.places(source):
        if matrix is None:  # the matrix gensim holds: vocabulary x vector_size float32
            matrix = np.empty((len(vocab.words), rows.shape[1]), np.float32)
        matrix[places] = rows
    kv = KeyedVectors(vector_size=matrix.shape[1], count=0)
    kv.index_to_key = vocab.ordered.to_pylist()
    kv.key_to_index = {word: i for i, word in enumerate(kv.index_to_key)}
    kv.vectors, kv.next_index = matrix, len(kv.index_to_key)
    kv.allocate_vecattrs(["count"], [np.int64])
    kv.expandos["count"][:] = vocab.counts
    return kv


# --------------------------------------------------------------------------------------------------------- public
def check_target(to: str | os.PathLike[str], fmt: str, force: bool = False) -> Path:
    """The file to write, refused before anything is read when it cannot be written.

    Raises
    ------
    BadInput
        An unknown format, a folder or a path in a folder that does not exist, or a file there already (without
        ``force``).
    """
    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    target = Path(to).absolute()
    if target.is_dir():
        raise BadInput(f"--to {to} is a folder: name the file to write")
    if not target.parent.is_dir():
        raise BadInput(f"--to {to}: there is no folder {target.parent}")
    if not force:
        for existing in _files(target, fmt):
            if existing.exists() or existing.is_symlink():
                raise BadInput(f"{existing} exists: pass --force to replace it")
    return target


def _files(target: Path, fmt: str) -> list[Path]:
    """The files a format writes at ``target``: gensim's ``save`` puts a large matrix beside the file."""
    return [target, target.with_name(f"{target.name}.vectors.npy")] if fmt == "keyedvectors" else [target]


def export_vectors(
    path: str,
    to: str | os.PathLike[str],
    fmt: str,
    run_id: str | None = None,
    *,
    output_format: str | None = None,
    force: bool = False,
    spark: SparkSession | Callable[[], SparkSession] | None = None,
) -> Exported:
    """Write one run's vectors to a file (module docstring): ``swapvec export``.

    Parameters
    ----------
    path
        The ``output.path`` the run wrote its tables under.
    to
        The file to write; the folder it is in must exist.
    fmt
        ``word2vec`` (binary), ``word2vec-text`` or ``keyedvectors``.
    run_id
        The run whose vectors to write; None for the newest succeeded run that wrote vectors.
    output_format
        ``delta`` or ``parquet``; None for the format found at a local ``path``.
    force
        Replace a file already at ``to``.
    spark
        A session, or a function that starts one, for tables that only Spark can read here; None: the active
        session, if any.

    Returns
    -------
    Exported

    Raises
    ------
    BadInput
        Bad arguments (:func:`check_target`), no such run, a run that wrote no vectors, or no tables at ``path``;
        nothing is written.
    """
    started = time.monotonic()
    target = check_target(to, fmt, force)
    source, row = results.vectors_of(path, output_format, run_id, spark)
    vocab = _Vocabulary.of(source.words(), f"run {row.run_id}")
    if fmt != "keyedvectors":
        vocab.check_words()
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    staging.mkdir()
    try:
        file = staging / target.name
        if fmt == "keyedvectors":
            kv = _keyedvectors(vocab, source)
            dim = kv.vector_size
            kv.save(str(file))
        else:
            dim = (_binary if fmt == "word2vec" else _text)(file, vocab, source)
        size = sum(f.stat().st_size for f in staging.iterdir())
        _publish(staging, target, fmt, force)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    seconds = time.monotonic() - started
    return Exported(target, fmt, row.run_id, len(vocab.words), dim, size, seconds)


def _publish(staging: Path, target: Path, fmt: str, force: bool) -> None:
    """Move what ``staging`` holds to ``target`` (the matrix beside it first, the file gensim opens last). Without
    ``force`` a hard link puts each file in place: atomic, and it fails when a file got there meanwhile, which is
    then left as it is."""
    placed: list[Path] = []
    try:
        for final in [f for f in reversed(_files(target, fmt)) if (staging / f.name).exists()]:
            made = staging / final.name
            if force:
                os.replace(made, final)
                continue
            try:
                os.link(made, final)
            except FileExistsError:
                raise BadInput(f"{final} exists: pass --force to replace it") from None
            except OSError:  # a file system without hard links: the check and the rename are apart
                if final.exists():
                    raise BadInput(f"{final} exists: pass --force to replace it") from None
                os.replace(made, final)
            placed.append(final)
    except BaseException:
        for final in placed:
            with contextlib.suppress(OSError):
                final.unlink()
        raise


def load_keyedvectors(
    output_path: str | os.PathLike[str],
    run_id: str | None = None,
    *,
    spark: SparkSession | None = None,
) -> KeyedVectors:
    """One run's vectors as gensim KeyedVectors, most frequent word first, with each word's count.

    Parameters
    ----------
    output_path
        The ``output.path`` the run wrote its tables under (Delta or Parquet: the format is read from it).
    run_id
        The run whose vectors to load; None for the newest succeeded run that wrote vectors.
    spark
        For tables only Spark can read here (a URI; Delta without the deltalake package); None: the active session.
        A local folder is read without a JVM.

    Returns
    -------
    gensim.models.KeyedVectors
        ``kv.get_vecattr(word, "count")`` is the word's count in the corpus. Memory: vocabulary x vector_size x 4
        bytes, as gensim holds it.

    Raises
    ------
    BadInput
        No tables at ``output_path``, no such run, or a run that wrote no vectors.

    Examples
    --------
    >>> kv = swapvec.load_keyedvectors("out")  # doctest: +SKIP
    >>> kv.most_similar("movies")[0][0]  # doctest: +SKIP
    'entertainment'
    """
    source, row = results.vectors_of(str(output_path), None, run_id, spark)
    return _keyedvectors(_Vocabulary.of(source.words(), f"run {row.run_id}"), source)


def keyedvectors_of(vectors: DataFrame) -> KeyedVectors:
    """A ``word, vector, count`` DataFrame as gensim KeyedVectors on the driver, most frequent word first."""
    source = results.SparkVectors(vectors)
    return _keyedvectors(_Vocabulary.of(source.words(), "these vectors"), source)
