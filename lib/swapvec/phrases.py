"""Phrases: terms of several words made one token (``motion picture`` -> ``motion_picture``) before augmentation.

* **Named phrases** are the ones the groups file and the lexicon write in double quotes. Every occurrence in the
  corpus becomes one token, the longest named phrase first where several start at one word.
* **Detected phrases** (``tokenize.phrases``) are the collocations :mod:`swapvec.collocations` finds, as gensim's
  ``Phrases`` finds them; each is a :class:`Phrase` of one pass, written to the ``phrases`` table.

Both are applied in the tasks (``mapInArrow``), a sentence left to right, as gensim applies its phrases: where a
token and the next form a phrase of the pass, they become one token and the search goes on after them. The same
phrases give the same tokens on every run and every retry. A phrase is shown to people as the groups file writes it
(:func:`readable`) and read back from that form (:func:`token_of`).

Memory: each task holds the phrases it joins (about 150 bytes each: 16,758 for GCIDE's 5.4M words).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import pyarrow as pa
from pyspark.sql import DataFrame

#: The ``phrases`` table: one row a detected phrase, ``left`` and ``right`` the tokens it joins in pass ``pass``,
#: with the connector words ``between`` them (``tokenize.phrase_connectors``).
TABLE_SCHEMA = "phrase string, left string, right string, between array<string>, pass int, count bigint, score double"


class Phrase(NamedTuple):
    """A detected phrase: its token, the two tokens it joins, the pass that found it, its count and its score."""

    phrase: str
    left: str
    right: str
    between: tuple[str, ...]
    pass_number: int
    count: int
    score: float


def readable(token: str, joiner: str) -> str:
    """A token for people: a phrase as the groups file writes it, in double quotes with its words spaced.

    Examples
    --------
    >>> readable("motion_picture", "_"), readable("films", "_")
    ('"motion picture"', 'films')
    """
    return f'"{token.replace(joiner, " ")}"' if joiner in token else token


def readable_all(tokens: Iterable[str], joiner: str) -> str:
    """Tokens for people, one space between them, each as :func:`readable` shows it.

    Examples
    --------
    >>> readable_all(["movies", "motion_picture"], "_")
    'movies "motion picture"'
    """
    return " ".join(readable(token, joiner) for token in tokens)


def token_of(written: str, joiner: str) -> str:
    """A word or phrase as people write it (in double quotes or not, spaced at will) as its token: its words joined
    by ``joiner``; the inverse of :func:`readable`.

    Examples
    --------
    >>> token_of('"Motion  Picture"', "_"), token_of("films", "_"), token_of("  ", "_")
    ('Motion_Picture', 'films', '')
    """
    return joiner.join(written.replace('"', " ").split())


def table_rows(found: Sequence[Phrase]) -> list[tuple]:
    """Phrases as rows of the ``phrases`` table (:data:`TABLE_SCHEMA`)."""
    return [(p.phrase, p.left, p.right, list(p.between), p.pass_number, p.count, p.score) for p in found]


def _longest_first(named: set[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
    starts: dict[str, list[tuple[str, ...]]] = {}
    for words in sorted(named, key=lambda p: (-len(p), p)):
        starts.setdefault(words[0], []).append(words)
    return starts


def join_named(tokens: Sequence[str], starts: dict[str, list[tuple[str, ...]]], joiner: str) -> list[str]:
    """The tokens with every named phrase (``starts``: first word -> phrases, longest first) made one token.

    Examples
    --------
    >>> starts = _longest_first({("new", "york"), ("new", "york", "city")})
    >>> join_named(["in", "new", "york", "city", "new", "york"], starts, "_")
    ['in', 'new_york_city', 'new_york']
    """
    out, i, n = [], 0, len(tokens)
    while i < n:
        for words in starts.get(tokens[i], ()):
            if tuple(tokens[i : i + len(words)]) == words:
                out.append(joiner.join(words))
                i += len(words)
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def join_pairs(tokens: Sequence[str], pairs: dict[str, set[str]], joiner: str) -> list[str]:
    """The tokens with each phrase of one pass (``pairs``: left token -> right tokens) made one token, left to right.

    Examples
    --------
    >>> join_pairs(["a", "b", "b", "c"], {"a": {"b"}, "b": {"c"}}, "_")
    ['a_b', 'b_c']
    """
    out, i, n = [], 0, len(tokens)
    while i < n:
        right = pairs.get(tokens[i])
        if right is not None and i + 1 < n and tokens[i + 1] in right:
            out.append(tokens[i] + joiner + tokens[i + 1])
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out


def join_connected(
    tokens: Sequence[str], pairs: dict[str, set[tuple[tuple[str, ...], str]]], connectors: frozenset[str], joiner: str
) -> list[str]:
    """The tokens with each phrase of one pass made one token, where connector words may stand between a phrase's
    first and last word (``pairs``: left token -> (connectors between, right token)); left to right, as gensim.

    Examples
    --------
    >>> join_connected(["of", "bank", "of", "america", "of", "x"], {"bank": {(("of",), "america")}}, {"of"}, "_")
    ['of', 'bank_of_america', 'of', 'x']
    """
    out: list[str] = []
    start: str | None = None
    between: list[str] = []
    for word in tokens:
        if word in connectors:
            (between if start is not None else out).append(word)
            continue
        if start is not None and (tuple(between), word) in pairs.get(start, ()):
            out.append(joiner.join([start, *between, word]))
            start, between = None, []
            continue
        if start is not None:
            out += [start, *between]
        start, between = word, []
    if start is not None:
        out += [start, *between]
    return out


def apply(
    rows: DataFrame,
    named: set[tuple[str, ...]],
    passes: Sequence[Sequence[Phrase]],
    joiner: str,
    connectors: frozenset[str] = frozenset(),
) -> DataFrame:
    """``rows`` (a ``tokens`` column among others) with the named phrases, then each pass's detected phrases, made
    tokens; ``rows`` itself when there is none."""
    starts = _longest_first(named)
    pass_pairs = []
    for found in passes:
        pairs: dict[str, set] = {}
        for p in found:
            pairs.setdefault(p.left, set()).add((p.between, p.right) if connectors else p.right)
        pass_pairs.append(pairs)
    if not starts and not any(pass_pairs):
        return rows

    def joined(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            at = batch.schema.get_field_index("tokens")
            out = []
            for tokens in batch.column(at).to_pylist():
                if starts:
                    tokens = join_named(tokens, starts, joiner)
                for pairs in pass_pairs:
                    if connectors:
                        tokens = join_connected(tokens, pairs, connectors, joiner)
                    else:
                        tokens = join_pairs(tokens, pairs, joiner)
                out.append(tokens)
            columns = batch.columns
            columns[at] = pa.array(out, pa.list_(pa.string()))
            yield pa.RecordBatch.from_arrays(columns, schema=batch.schema)

    return rows.mapInArrow(joined, rows.schema)
