r"""Tokenisation: lower-case, extract tokens with a Unicode-aware regex, split long sentences.

One rule, ``tokenize.lowercase`` then every match of ``tokenize.pattern`` at least ``tokenize.min_length`` characters
long, has two forms here and nowhere else: :func:`tokens_of`, the Spark expression that tokenises the corpus, and
:func:`python_tokens`, the same rule in Python for the groups file's and the lexicon's words on the driver. Spark's
is the reference; the Python form is derived from it, so ``Movies`` in a groups file is ``movies`` as in the corpus.

Java's regex and Python's ``re`` are two engines. The default pattern uses nothing but Unicode general categories
(``\p{L}``, ``\p{M}``, ``\p{N}``), a character class of two apostrophes and greedy repetition, which mean the same in
both once each ``\p{..}`` is spelt as the explicit ranges of its category (:func:`python_pattern`, the one
translation). Where the two can still differ:

* Unicode versions. Java's regex knows the JVM's Unicode (13 on Java 17, 15 on Java 21), Spark 4's ``lower`` ICU's
  (17 for Spark 4.2) and Python's ``unicodedata`` its own (14 on Python 3.11): a character assigned in one and not in
  another is a letter to one and nothing to the other, or lower-cased by one only. The Python form does not guess:
  a word with a character its Unicode does not know is not tokenised here (None), and Spark decides.
* Locale. Spark 4 lower-cases with ICU's root locale, as Python does. Spark 3.5 (and Spark 4 with
  ``spark.sql.icu.caseMappings.enabled`` false) lower-cases non-ASCII text with the JVM's default locale: under a
  Turkish, Azeri or Lithuanian one, ``I`` is not ``i``. Run such a JVM with ``-Duser.language=en``.

Any other ``tokenize.pattern`` is Java's alone and is tokenised in Spark only.
"""

from __future__ import annotations

import functools
import itertools
import re
import sys
import unicodedata
from typing import NamedTuple

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from swapvec.config import DEFAULT_TOKEN_PATTERN, TokenizeConfig
from swapvec.errors import BadInput, one_line


def lowered(text: Column, cfg: TokenizeConfig) -> Column:
    """A string column as the tokeniser matches it: lower-cased when ``tokenize.lowercase``."""
    return F.lower(text) if cfg.lowercase else text


def tokens_of(text: Column, cfg: TokenizeConfig) -> Column:
    """The token array of a string column: every regex match, lower-cased if configured, short ones dropped, and
    empty ones under a pattern that matches the empty string (``a*``: one empty token between any two letters)."""
    tokens = F.regexp_extract_all(lowered(text, cfg), F.lit(cfg.pattern), F.lit(0))
    least = max(1, cfg.min_length)
    if least > 1 or cfg.pattern != DEFAULT_TOKEN_PATTERN:  # the default never matches the empty string
        tokens = F.filter(tokens, lambda t: F.char_length(t) >= least)
    return tokens


#: Java's Unicode property escapes in the default pattern: a general category, one letter or two.
_PROPERTY = re.compile(r"\\p\{([A-Z][a-z]?)\}")


@functools.cache
def _category_runs() -> list[tuple[int, int, str]]:
    """Python's Unicode as runs of one general category: ``(first, last, category)``, about 4,000 (0.2 s, once)."""
    runs, first = [], 0
    for category, run in itertools.groupby(range(sys.maxunicode + 1), lambda code: unicodedata.category(chr(code))):
        last = first + sum(1 for _ in run) - 1
        runs.append((first, last, category))
        first = last + 1
    return runs


def _ranges(category: str) -> str:
    """Every character of a general category (``L``, ``Lu``) in Python's Unicode as the body of a ``re`` character
    class: ranges, as Java's ``\\p{..}`` stands for them."""
    spans = [(a, b) for a, b, c in _category_runs() if c.startswith(category)]
    return "".join(re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b))) for a, b in spans)


@functools.cache
def python_pattern(pattern: str) -> re.Pattern[str] | None:
    """``pattern`` as Python's ``re`` reads it the way Java reads it, or None where that is not known here: for the
    default pattern, each ``\\p{C}`` spelt as the ranges of category ``C``; any other pattern is Java's alone.

    Examples
    --------
    >>> python_pattern(DEFAULT_TOKEN_PATTERN).findall("l’homme don't ΟΔΟΣ 42")
    ['l’homme', "don't", 'ΟΔΟΣ', '42']
    """
    if pattern != DEFAULT_TOKEN_PATTERN:
        return None
    return re.compile(_PROPERTY.sub(lambda m: _ranges(m.group(1)), pattern))


def python_lowered(text: str, cfg: TokenizeConfig) -> str:
    """:func:`lowered` in Python: ``str.lower`` is Unicode's full lower-casing (``İ`` to ``i̇``, a word's last
    ``Σ`` to ``ς``) as ICU's root locale does it."""
    return text.lower() if cfg.lowercase else text


def _known(text: str) -> bool:
    """Every character of ``text`` is assigned in Python's Unicode (see the module's note on versions)."""
    return text.isascii() or all(unicodedata.category(c) != "Cn" for c in text)


def python_tokens(text: str, cfg: TokenizeConfig) -> list[str] | None:
    """:func:`tokens_of` in Python, for the checks made before a Spark session starts; None where Python cannot
    say what Spark would: under another ``tokenize.pattern``, or with a character Python's Unicode does not know."""
    pattern = python_pattern(cfg.pattern)
    if pattern is None or not _known(text):
        return None
    return [t for t in pattern.findall(python_lowered(text, cfg)) if len(t) >= cfg.min_length]


#: Scripts written without spaces between words, where the default pattern takes a whole phrase for one word.
UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN")


def check_spaced(sentences: DataFrame, cfg: TokenizeConfig, sample: int = 1000) -> None:
    """Refuse, under the default pattern, a corpus whose words are not separated by spaces (Chinese, Japanese, Thai):
    each phrase would be one "word", and the run would end with an empty vocabulary or a meaningless one. A sample
    of the first tokens decides (one small Spark job).

    Raises
    ------
    BadInput
        Most letters of the sample are of a script written without spaces.
    """
    if cfg.pattern != DEFAULT_TOKEN_PATTERN:
        return
    tokens = [r.t for r in sentences.select(F.explode("tokens").alias("t")).limit(sample).collect()]
    letters = [c for t in tokens for c in t if c.isalpha()]
    unspaced = sum(unicodedata.name(c, "").startswith(UNSPACED_SCRIPTS) for c in letters)
    if letters and unspaced > len(letters) / 2:
        raise BadInput(
            "the corpus's text has no spaces between words (as Chinese, Japanese or Thai): tokenize.pattern would take "
            "whole phrases as words; segment it into space-separated words first"
        )


def check_pattern(spark: SparkSession, cfg: TokenizeConfig) -> None:
    """Refuse a pattern Java cannot compile, with Java's own reason, before the corpus is touched (a Spark job: not
    for the default pattern, which every tokenising test compiles)."""
    if cfg.pattern == DEFAULT_TOKEN_PATTERN:
        return
    try:
        spark.range(1).select(F.regexp_extract_all(F.lit("a"), F.lit(cfg.pattern), F.lit(0))).collect()
    except Exception as exc:
        raise BadInput(f"config: tokenize.pattern: not a valid Java regex ({one_line(exc, 200)})") from None


def token_rows(corpus: DataFrame, cfg: TokenizeConfig) -> DataFrame:
    """The tokens of each row of a ``text`` column: ``sentence_id bigint, tokens array<string>``, ``sentence_id``
    numbering the input rows (stable for a fixed input); rows without tokens dropped."""
    rows = corpus.select(F.monotonically_increasing_id().alias("sentence_id"), tokens_of(F.col("text"), cfg).alias("t"))
    return rows.where(F.size("t") > 0).select("sentence_id", F.col("t").alias("tokens"))


def chunked(rows: DataFrame, length: int) -> DataFrame:
    """``sentence_id, tokens`` rows as sentences: ``sentence_id bigint, chunk int, tokens array<string>``, ``chunk``
    numbering the pieces of a row longer than ``length`` tokens, so nothing is cut off."""
    chunks = F.sequence(F.lit(0), F.floor((F.size("tokens") - 1) / length).cast("int"))
    return rows.select("sentence_id", F.explode(chunks).alias("chunk"), F.col("tokens").alias("t")).select(
        "sentence_id",
        F.col("chunk").cast("int").alias("chunk"),
        F.slice("t", F.col("chunk") * length + 1, length).alias("tokens"),
    )


def tokenize(corpus: DataFrame, cfg: TokenizeConfig) -> DataFrame:
    """Turn a ``text`` column into sentences.

    Parameters
    ----------
    corpus
        One string column ``text``; one row a line or document, in the order the source gives.
    cfg
        Tokeniser settings.

    Returns
    -------
    DataFrame
        ``sentence_id bigint, chunk int, tokens array<string>``: :func:`token_rows`, :func:`chunked` into pieces of at
        most ``max_sentence_length`` tokens.
    """
    return chunked(token_rows(corpus, cfg), cfg.max_sentence_length)


class Spelling(NamedTuple):
    """A word as the tokeniser reads it: ``text``, lower-cased as configured, and the ``tokens`` found in it (None:
    not known on the driver, see :func:`python_tokens`). The word is one token as written when ``tokens`` is
    ``[text]``."""

    text: str
    tokens: list[str] | None


def python_spelling(word: str, cfg: TokenizeConfig) -> Spelling:
    """:class:`Spelling` of a word in Python, before a Spark session starts."""
    return Spelling(python_lowered(word, cfg), python_tokens(word, cfg))


def tokenize_words(spark: SparkSession, words: list[str], cfg: TokenizeConfig) -> list[Spelling]:
    """Tokenise a short list of words (a groups file's) with exactly the corpus tokeniser.

    ASCII words under the default pattern are read in Python (:func:`python_spelling`): every Java, ICU and Python
    Unicode version agrees on ASCII, and a session's first Spark job of this kind took 3 to 5 s for a few hundred
    words. Other words go through Spark's own expressions (:func:`spark_spellings`).
    """
    if not words:
        return []
    if cfg.pattern == DEFAULT_TOKEN_PATTERN and all(w.isascii() for w in words):
        return [python_spelling(w, cfg) for w in words]
    return spark_spellings(spark, words, cfg)


def spark_spellings(spark: SparkSession, words: list[str], cfg: TokenizeConfig) -> list[Spelling]:
    """:func:`tokenize_words` in Spark, whatever the words and the pattern (refused first, as for the corpus, if Java
    cannot compile it: a groups file is read before the corpus)."""
    if not words:
        return []
    check_pattern(spark, cfg)
    df = spark.createDataFrame([(i, w) for i, w in enumerate(words)], "i int, text string")
    text = F.col("text")
    rows = df.select("i", lowered(text, cfg).alias("l"), tokens_of(text, cfg).alias("t")).orderBy("i").collect()
    return [Spelling(r.l, list(r.t)) for r in rows]
