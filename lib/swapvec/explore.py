"""What a run made, for people: the neighbours of chosen words and the evaluation report (the explore notebook's call).

``explore(spark, output, words)`` reads the ``similarities`` table and the report folder under ``output.path``; it
writes nothing. The report's HTML comes back with its plots inlined, so that a notebook shows it as one string
(Databricks' ``displayHTML`` cannot follow the page's relative image links).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from swapvec.config import OutputConfig
from swapvec.phrases import readable, token_of
from swapvec.store import Store


@dataclass
class Exploration:
    """The neighbours of the chosen words and the run's report."""

    #: ``word, rank, neighbor, similarity``, nearest first; one row per (word, neighbour) of the chosen words.
    neighbours: DataFrame
    #: Chosen words with no row in ``similarities`` (not in the vocabulary, or not a query word of the run).
    absent: list[str] = field(default_factory=list)
    #: ``report/report.html`` with its images inlined; None when there is no report (a URI output path, or no run).
    report_html: str | None = None
    #: ``report/report.md`` as written (images linked relatively); None when there is no report.
    report_markdown: str | None = None


def chosen_words(text: str | Iterable[str], joiner: str = "_") -> list[str]:
    """Words from a comma- or space-separated string (or a list), lower-cased, each once, in the order given; a phrase
    in double quotes (or an item of a list that holds spaces) as its token, its words joined by ``joiner``.

    Examples
    --------
    >>> chosen_words('Movies, films  cinema,movies "Motion  Picture"')
    ['movies', 'films', 'cinema', 'motion_picture']
    """
    parts = [a or b for a, b in re.findall(r'"([^"]*)"|([^,\s"]+)', text)] if isinstance(text, str) else list(text)
    return list(dict.fromkeys(token for p in parts if p and (token := token_of(p.lower(), joiner))))


def neighbours(spark: SparkSession, output: OutputConfig, words: str | Iterable[str], joiner: str = "_") -> DataFrame:
    """The ``similarities`` rows of ``words``, nearest first: ``word, rank, neighbor, similarity``; a phrase's words
    (joined by ``joiner`` in the tables) spaced, for people.

    Words match case-insensitively, as the tokeniser lower-cases by default (``Movies`` finds ``movies``), and a
    phrase is written in double quotes (``"motion picture"``) or as its token (``motion_picture``).

    Raises
    ------
    BadInput
        No ``similarities`` table under ``output.path``.
    """
    wanted = chosen_words(words, joiner)
    sims = Store(output, spark).read("similarities", needed_by="explore")
    spaced = [F.replace(F.col(c), F.lit(joiner), F.lit(" ")).alias(c) for c in ("word", "neighbor")]
    return (
        sims.where(F.lower("word").isin(wanted))
        .select(spaced[0], "rank", spaced[1], "similarity")
        .orderBy("word", "rank")
    )


#: The media types of the plots a report links (SVG; PNG in older reports).
_IMAGE_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


def _inline_images(page: str, folder: Path) -> str:
    """Replace ``src="x.svg"`` (or ``.png``) links to files in ``folder`` with data URIs."""

    def inline(match: re.Match[str]) -> str:
        image = folder / match.group(1)
        if not image.is_file():
            return match.group(0)
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        return f'src="data:{_IMAGE_TYPES[match.group(2)]};base64,{data}"'

    return re.sub(r'src="([^"/:]+\.(svg|png))"', inline, page)


def explore(spark: SparkSession, output: OutputConfig, words: str | Iterable[str], joiner: str = "_") -> Exploration:
    """The neighbours of ``words`` and the report of the run under ``output.path``.

    Parameters
    ----------
    spark
        The session.
    output
        Where the run wrote its tables (``output.path``, ``output.format``).
    words
        The words to look up: a comma- or space-separated string (a phrase in double quotes), or a list.
    joiner
        The run's ``tokenize.phrase_joiner``.

    Returns
    -------
    Exploration

    Raises
    ------
    BadInput
        No ``similarities`` table under ``output.path`` (run ``swapvec run`` first).
    """
    wanted = chosen_words(words, joiner)
    rows = neighbours(spark, output, wanted, joiner)
    # Bounded by the words asked for: one row per word found.
    found = {token_of(r.word, joiner) for r in rows.select(F.lower("word").alias("word")).distinct().collect()}
    exploration = Exploration(neighbours=rows, absent=[readable(w, joiner) for w in wanted if w not in found])
    # A report is written only under a local or mounted output.path; under a URI this finds no file.
    folder = Path(Store(output).path("report"))
    if (folder / "report.html").is_file():
        exploration.report_html = _inline_images((folder / "report.html").read_text(encoding="utf-8"), folder)
        exploration.report_markdown = (folder / "report.md").read_text(encoding="utf-8")
    return exploration
