"""Tokenisation, inside Spark's JVM: lower-case, extract tokens with a Unicode-aware regex, split long sentences.

The same expression tokenises the corpus and the words of the groups file, so ``Movies`` in either is ``movies``.
"""

from __future__ import annotations

import unicodedata

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from swapvec.config import DEFAULT_TOKEN_PATTERN, TokenizeConfig
from swapvec.errors import BadInput, one_line


def tokens_of(text: Column, cfg: TokenizeConfig) -> Column:
    """The token array of a string column: every regex match, lower-cased if configured, short ones dropped, and
    empty ones under a pattern that matches the empty string (``a*``: one empty token between any two letters)."""
    source = F.lower(text) if cfg.lowercase else text
    tokens = F.regexp_extract_all(source, F.lit(cfg.pattern), F.lit(0))
    least = max(1, cfg.min_length)
    if least > 1 or cfg.pattern != DEFAULT_TOKEN_PATTERN:  # the default never matches the empty string
        tokens = F.filter(tokens, lambda t: F.char_length(t) >= least)
    return tokens


def _word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LMN"


def python_tokens(text: str, cfg: TokenizeConfig) -> list[str] | None:
    """The default tokeniser in Python (letters, marks and digits, joined by inner apostrophes), for the checks made
    before a Spark session starts; None under another ``tokenize.pattern`` (only Java knows it)."""
    if cfg.pattern != DEFAULT_TOKEN_PATTERN:
        return None
    source = text.lower() if cfg.lowercase else text
    tokens, i = [], 0
    while i < len(source):
        if not _word_char(source[i]):
            i += 1
            continue
        end = i
        while end < len(source) and _word_char(source[end]):
            end += 1
            if end + 1 < len(source) and source[end] in "'’" and _word_char(source[end + 1]):
                end += 1
        tokens.append(source[i:end])
        i = end
    return [t for t in tokens if len(t) >= cfg.min_length]


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


def tokenize_words(spark: SparkSession, words: list[str], cfg: TokenizeConfig) -> list[list[str]]:
    """Tokenise a short list of words (a groups file's) with exactly the corpus tokeniser.

    ASCII words under the default pattern are tokenised in Python (:func:`python_tokens`), where Java's regex, its
    lower-casing and its character counts agree with Python's: a session's first Spark job of this kind took 3 to 5
    s for a few hundred words. Other words go through Spark's own expression.
    """
    if not words:
        return []
    if cfg.pattern == DEFAULT_TOKEN_PATTERN and all(w.isascii() for w in words):
        return [python_tokens(w, cfg) or [] for w in words]
    return spark_tokens(spark, words, cfg)


def spark_tokens(spark: SparkSession, words: list[str], cfg: TokenizeConfig) -> list[list[str]]:
    """:func:`tokenize_words` in Spark, whatever the words and the pattern (refused first, as for the corpus, if Java
    cannot compile it: a groups file is read before the corpus)."""
    if not words:
        return []
    check_pattern(spark, cfg)
    df = spark.createDataFrame([(i, w) for i, w in enumerate(words)], "i int, text string")
    rows = df.select("i", tokens_of(F.col("text"), cfg).alias("t")).orderBy("i").collect()
    return [list(r.t) for r in rows]
