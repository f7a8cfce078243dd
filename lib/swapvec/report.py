"""The evaluation report: ``<output.path>/report/report.md`` (and ``report.html``) with SVG plots beside it.

What it shows, for people rather than for ``runs``:

* the scores (benchmarks, group closeness, repelled and lexicon pairs), against the baseline (``evaluate.baseline``);
* ``ranks.svg``: the distribution of in-group ranks (the rank of each group-mate among a member's neighbours);
* ``group-<line>.svg``: each group's words and their nearest neighbours projected to 2-D (PCA of those points),
  before (the run without groups) and after, side by side; only after when there is no baseline.

Images are linked relatively, so the folder opens as it is in a notebook (``IPython.display.Markdown`` from that
folder, or ``IFrame("report/report.html")``), a Markdown viewer or a browser. The folder is replaced as a whole
(written beside it, then renamed), so a reader never sees half a report. Only a folder swapvec made is replaced: one
that holds nothing but a report's files and either swapvec's marker file or the pages of a report written before the
marker; anything else is refused, before any work by :func:`check_report_folder` and again at the swap.

Memory on the driver: the ``evaluate.max_vocab`` most frequent words' vectors, as for the evaluation itself.
"""

from __future__ import annotations

import fcntl
import html
import math
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame

from swapvec.config import Config
from swapvec.errors import BadInput
from swapvec.evaluate import MIN_COVERAGE, Evaluation, collect_vectors
from swapvec.figures import NEIGHBOURS_SHOWN, group_figure, ranks_figure
from swapvec.groups import Group, group_words
from swapvec.log import event, get_logger
from swapvec.phrases import readable, readable_all
from swapvec.store.delta import foreign_table_message
from swapvec.store.paths import is_uri, local_path
from swapvec.summary import (
    compared,
    group_title,
    guarantee_headline,
    kept_by,
    repel_table,
    scope,
    score_cell,
    scores,
)

_log = get_logger("report")

#: Groups drawn (the first ones of the file); the tables list every group.
MAX_GROUPS_PLOTTED = 100

#: The file that marks a report folder as swapvec's, so that a rerun may replace it.
MARKER = ".swapvec-report"
#: The names swapvec writes in a report folder (older reports have PNG plots); a folder with any other entry holds
#: someone's data.
_REPORT_FILE = re.compile(r"report\.md|report\.html|(ranks|group-\d+)\.(svg|png)|" + re.escape(MARKER))


def _pairs(evaluation: Evaluation) -> dict[tuple[int, str, str], int]:
    """(group line, member, mate) -> rank, from ``Evaluation.groups``."""
    return {
        (g["line"], member, mate): rank
        for g in evaluation.groups
        for member, mates in g["ranks"].items()
        for mate, rank in mates.items()
    }


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def build_report(
    folder: Path,
    cfg: Config,
    run_id: str,
    groups: list[Group],
    evaluation: Evaluation,
    after_kv,
    before_kv=None,
    baseline: Evaluation | None = None,
    moves: list[dict[str, Any]] | None = None,
) -> Path:
    """Write report.md, report.html and the plots into ``folder`` (which must exist); returns report.md's path.
    ``moves``: what the guarantee step did to each group (``runs.details["guarantee"]``), when it ran."""
    import matplotlib

    matplotlib.use("Agg")
    method = cfg.augment.method if cfg.augment.groups_path or cfg.augment.lexicon_path else "none"
    after_caption = f"after: trained with groups ({method})"
    joiner = cfg.tokenize.phrase_joiner  # phrases are shown as the groups file writes them: "motion picture"
    before_head, after_head = compared(cfg)
    parts: list[tuple[str, Any]] = []  # ("h2"/"p"/"table"/"img", payload), rendered to Markdown and HTML alike
    parts.append(("h1", f"swapvec report: run {run_id}"))
    parts.append(
        (
            "p",
            f"Groups: {cfg.augment.groups_path or 'none'} ({len(groups)} groups); lexicon: "
            f"{cfg.augment.lexicon_path or 'none'}; augment.method: {method}; "
            f"backend: {cfg.train.backend}; evaluated among {scope(evaluation.metrics, cfg.evaluate.max_vocab)}. "
            f"(n%): the benchmark's pairs or questions in the vocabulary; under {MIN_COVERAGE:.0%} a score is not "
            "measured, and no change is shown.",
        )
    )
    parts.append(("h2", "Scores"))
    if baseline is not None:
        header = ["", before_head, after_head, "change"]
        rows = []
        for label, key, pattern, better, oov in scores(baseline, evaluation):
            was, now = baseline.metrics.get(key), evaluation.metrics.get(key)
            change = "-"
            if was is not None and now is not None and not (math.isnan(was) or math.isnan(now)):
                change = ("+" if now - was >= 0 else "") + pattern.format(now - was) + f" ({better} is better)"
            cells = [score_cell(m.metrics, key, pattern, oov) for m in (baseline, evaluation)]
            rows.append([label, *cells, change])
    else:
        header = ["", after_head]
        rows = [[row[0], score_cell(evaluation.metrics, row[1], row[2], row[4])] for row in scores(evaluation)]
        parts.append(("p", "No run without groups to compare with: set evaluate.baseline (swapvec run) for one."))
    parts.append(("table", (header, rows)))
    if moves:
        parts += _guarantee_parts(moves, groups, cfg)
    after_pairs = _pairs(evaluation)
    before_pairs = _pairs(baseline) if baseline is not None else {}
    if after_pairs:
        before_ranks = list(before_pairs.values()) or None
        ranks_figure(folder / "ranks.svg", list(after_pairs.values()), before_ranks, (before_head, after_head))
        parts.append(("h2", "In-group ranks"))
        parts.append(("img", ("ranks.svg", "histogram of in-group ranks")))
    if groups:
        parts.append(("h2", "Groups"))
        note = f"{before_head} (left) and {after_head} (right)" if before_kv is not None else "after"
        parts.append(
            (
                "p",
                f"Each group's words (red; a star is a hub) and their {NEIGHBOURS_SHOWN} nearest other words (grey), "
                f"projected to 2-D by PCA of those points, {note}. Lines join each member to its group-mates. "
                "The ranks say where each mate stands among the member's neighbours (1 = nearest).",
            )
        )
        for number, group in enumerate(groups):
            parts.append(("h3", f"line {group.line}: {group_title(group, joiner)}"))
            ranks = []
            for (line, member, mate), rank in after_pairs.items():
                if line == group.line:
                    was = before_pairs.get((line, member, mate))
                    row = [readable(member, joiner), readable(mate, joiner), str(rank)]
                    ranks.append(row + ([str(was) if was is not None else "-"] if baseline else []))
            if ranks:
                head = ["member", "mate", "rank"] + ([f"rank {before_head}"] if baseline else [])
                parts.append(("table", (head, ranks)))
            missing = [w for w in group.words if w not in after_kv.key_to_index]
            if missing:
                parts.append(("p", f"Not in the evaluated vocabulary: {readable_all(missing, joiner)}."))
            if number < MAX_GROUPS_PLOTTED:
                name = f"group-{group.line:05d}.svg"
                group_figure(folder / name, group, (after_kv, after_caption), (before_kv, before_head), joiner)
                parts.append(("img", (name, f"group on line {group.line}")))
        if len(groups) > MAX_GROUPS_PLOTTED:
            parts.append(("p", f"Plots for the first {MAX_GROUPS_PLOTTED} groups only."))
    if evaluation.repels:
        parts.append(("h2", "Repelled pairs"))
        parts.append(("table", repel_table(evaluation, baseline, joiner)))
    md, body = [], []
    for kind, payload in parts:
        if kind in ("h1", "h2", "h3"):
            md.append("#" * int(kind[1]) + " " + payload)
            body.append(f"<{kind}>{html.escape(payload)}</{kind}>")
        elif kind == "p":
            md.append(payload)
            body.append(f"<p>{html.escape(payload)}</p>")
        elif kind == "table":
            md.append(_markdown_table(*payload))
            body.append(_html_table(*payload))
        else:
            md.append(f"![{payload[1]}]({payload[0]})")
            body.append(f'<img src="{html.escape(payload[0])}" alt="{html.escape(payload[1])}">')
    (folder / "report.md").write_text("\n\n".join(md) + "\n", encoding="utf-8")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
        "img{max-width:100%}"
    )
    page = f"<!doctype html><meta charset='utf-8'><title>swapvec report {html.escape(run_id)}</title>"
    (folder / "report.html").write_text(page + f"<style>{style}</style>" + "\n".join(body) + "\n", encoding="utf-8")
    return folder / "report.md"


def _guarantee_parts(moves: list[dict[str, Any]], groups: list[Group], cfg: Config) -> list[tuple[str, Any]]:
    """The report's section on the guarantee step: its headline, and for each group whether the trained vectors kept
    its promise, the words the step moved and the least cosine between a moved word's trained and final vector."""
    joiner, by, titles = cfg.tokenize.phrase_joiner, kept_by(cfg), {g.line: g for g in groups}
    rows = []
    for entry in moves:
        group = titles.get(entry["line"])
        moved = ", ".join(readable(w, joiner) for w in entry["moved"]) or "-"
        least = f"{entry['least_cosine']:.3f}" if entry["moved"] else "-"
        kept = "yes" if entry["kept_by_training"] else "no"
        title = group_title(group, joiner) if group else ""
        rows.append([str(entry["line"]), title, kept, moved, least, "yes" if entry["met"] else "no"])
    header = ["line", "group", f"kept by {by}", "moved by the guarantee", "least cosine", "kept after it"]
    text = (
        f"{guarantee_headline(moves, by)}. After training, the guarantee step moves the words of a group whose "
        "promise does not hold, only as far as it needs; the least cosine is between a moved word's trained and "
        "final vector (1 is no move)."
    )
    return [("h2", "The guarantee step"), ("p", text[0].upper() + text[1:]), ("table", (header, rows))]


def made_by_swapvec(folder: Path, unfinished: bool = False) -> bool:
    """True when a rerun may replace ``folder``: it holds only the files a report is made of, and swapvec's marker or
    the pages of a report from before the marker (``unfinished``: pages a killed run left half drawn, unmarked). An
    empty folder holds nothing to lose; a link or a file is never swapvec's."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    entries = list(folder.iterdir())
    if not entries:
        return True
    if any(e.is_symlink() or not e.is_file() or not _REPORT_FILE.fullmatch(e.name) for e in entries):
        return False
    return unfinished or (folder / MARKER).is_file() or _earlier_report(folder)


def _earlier_report(folder: Path) -> bool:
    """True when ``folder`` holds the pages :func:`build_report` wrote before reports carried the marker: report.md
    opening with the ``# swapvec report`` heading, and report.html whose title starts ``swapvec report``."""
    md, page = folder / "report.md", folder / "report.html"
    if not (md.is_file() and page.is_file()):
        return False
    with md.open(encoding="utf-8", errors="replace") as handle:
        heading = handle.readline()
    with page.open(encoding="utf-8", errors="replace") as handle:
        head = handle.read(400)  # the title comes right after the doctype and charset
    return heading.startswith("# swapvec report") and "<title>swapvec report" in head


def check_report_folder(output_path: str) -> None:
    """Refuse, before any work, an output path whose ``report`` folder swapvec did not make; the report is written
    last, and a refusal there would come after the whole run's training.

    Raises
    ------
    BadInput
        ``<output.path>/report`` exists and is not :func:`made_by_swapvec`.
    """
    if is_uri(output_path):
        return  # no report is written there
    folder = local_path(output_path) / "report"
    if (folder.exists() or folder.is_symlink()) and not made_by_swapvec(folder):
        raise BadInput(foreign_table_message(str(folder), made="a report folder"))


#: The folders :func:`write_report` makes beside ``report``: the pages being drawn, and the last report set aside.
_STAGING = re.compile(r"\.report-(old-)?[0-9a-f]{8}")


def remove_stale_staging(base_dir: Path, before: float) -> None:
    """Remove what killed runs left beside the report (a SIGKILL during the writes leaves a run's
    ``.report-XXXXXXXX``): only folders named so, holding nothing but a report's files (half drawn, maybe), changed
    before ``before`` (the finding run's start, in epoch seconds), and locked by no live :func:`write_report`."""
    for folder in sorted(base_dir.glob(".report-*")):
        try:
            if _STAGING.fullmatch(folder.name) and made_by_swapvec(folder, True) and folder.lstat().st_mtime < before:
                handle = _locked(folder, wait=False)
                shutil.rmtree(folder)
                os.close(handle)
                event(_log, "report.staging_removed", folder=folder.name)
        except (BlockingIOError, FileNotFoundError):  # a live run's (or a lock no one can tell), or gone meanwhile
            continue


def _locked(folder: Path, wait: bool = True) -> int:
    """A handle of ``folder`` holding its ``flock``, which the system drops when its holder dies, however. Without
    ``wait``, BlockingIOError when it is held, or when the file system takes no such lock (a writer goes on)."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if not wait:
            os.close(handle)
            raise BlockingIOError(str(exc)) from None
    return handle


def _swap_in(staging: Path, final: Path) -> None:
    """Rename ``staging`` to ``final``; a report already there is renamed aside first and checked where it now lies, so
    that a file someone put in it during the run is seen: it is then put back and refused, never deleted."""
    old = final.parent / f".report-old-{uuid.uuid4().hex[:8]}"
    if final.exists() or final.is_symlink():
        os.replace(final, old)
        if not made_by_swapvec(old):
            os.replace(old, final)
            raise BadInput(foreign_table_message(str(final), made="a report folder"))
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def write_report(
    cfg: Config,
    run_id: str,
    vectors: DataFrame,
    groups: list[Group],
    evaluation: Evaluation,
    baseline_vectors: DataFrame | None = None,
    baseline: Evaluation | None = None,
    ready: Callable[[], None] | None = None,
    started: float | None = None,
    moves: list[dict[str, Any]] | None = None,
) -> Path | None:
    """Write the report under ``<output.path>/report``; returns report.md's path (None for a URI output path).

    A ``report`` folder already there is replaced only when swapvec made it (:func:`made_by_swapvec`).

    Parameters
    ----------
    vectors
        The run's vectors (``word, vector, count``).
    evaluation
        ``evaluate.evaluate`` of ``vectors``.
    baseline_vectors, baseline
        The run without groups and its evaluation, when ``evaluate.baseline`` made one.
    ready
        Called once the pages are drawn, before they replace the folder's: what must succeed first (the run's
        writes); when it raises, the pages are dropped and the earlier report stays.
    started
        When the run began (epoch seconds; None: now): what killed runs left before it goes (remove_stale_staging).
    moves
        What the guarantee step did to each group (``runs.details["guarantee"]``); None when it did not run.

    Raises
    ------
    BadInput
        ``<output.path>/report`` holds data swapvec did not write; it is left as it was.
    """
    if is_uri(cfg.output.path):
        event(_log, "report.skipped", reason="output.path is a URI; the report is written to local folders only")
        return None
    check_report_folder(cfg.output.path)  # before the vectors are collected and the plots drawn
    base_dir = local_path(cfg.output.path)
    base_dir.mkdir(parents=True, exist_ok=True)
    words = group_words(groups)

    def collected(evaluated: Evaluation | None, table: DataFrame):  # the evaluation's own, or collected here
        if evaluated is not None and evaluated.vectors is not None:
            return evaluated.vectors
        return collect_vectors(table, cfg.evaluate.max_vocab, words)

    after_kv = collected(evaluation, vectors)
    before_kv = collected(baseline, baseline_vectors) if baseline_vectors is not None else None
    remove_stale_staging(base_dir, time.time() if started is None else started)
    staging = base_dir / f".report-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    final = base_dir / "report"
    drawing, lock = time.monotonic(), _locked(staging)  # no run takes a live run's folder for a dead one's
    try:
        build_report(staging, cfg, run_id, groups, evaluation, after_kv, before_kv, baseline, moves)
        # The report stage's time includes waiting for the writes (``ready``); this is the drawing's own.
        event(_log, "report.drawn", seconds=round(time.monotonic() - drawing, 2))
        (staging / MARKER).write_text(
            "Written by swapvec, which replaces this folder at each report; files added here stop that.\n",
            encoding="utf-8",
        )
        if ready is not None:
            ready()
        _swap_in(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(lock)
    event(_log, "report.written", path=str(final / "report.md"))
    return final / "report.md"
