"""The evaluation report's pages: ``report.md`` and ``report.html``, with SVG plots beside them.

What it shows, for people rather than for ``runs``:

* the scores (benchmarks, group closeness, repelled and lexicon pairs), against the baseline (``evaluate.baseline``);
* ``ranks.svg``: the distribution of in-group ranks (the rank of each group-mate among a member's neighbours);
* ``group-<line>.svg``: each group's words and their nearest neighbours projected to 2-D (PCA of those points),
  before (the run without groups) and after, side by side; only after when there is no baseline.

:func:`render` draws an evaluation it is handed (with the vectors it was computed on) into a folder; where that
folder lies and who may replace it is the store's (:mod:`swapvec.store.report_folder`). Images are linked relatively,
so the folder opens as it is in a notebook (``IPython.display.Markdown`` from that folder, or
``IFrame("report/report.html")``), a Markdown viewer or a browser.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swapvec.config import EvaluateConfig, TokenizeConfig, TrainConfig
from swapvec.evaluate import MIN_COVERAGE, Evaluation
from swapvec.figures import NEIGHBOURS_SHOWN, group_figure, ranks_figure
from swapvec.groups import Group
from swapvec.phrases import readable, readable_all
from swapvec.summary import WITHOUT_WITH, group_title, guarantee_headline, repel_table, scope, score_cell, scores

#: Groups drawn (the first ones of the file); the tables list every group.
MAX_GROUPS_PLOTTED = 100


@dataclass(frozen=True)
class ReportInfo:
    """What the pages say of the run besides its evaluation."""

    run_id: str
    groups_path: str | None = None
    lexicon_path: str | None = None
    #: ``augment.method``, or ``none`` without a groups file or lexicon.
    method: str = "none"
    backend: str = TrainConfig.backend
    #: ``evaluate.max_vocab``: the words the evaluation was among.
    max_vocab: int = EvaluateConfig.max_vocab
    #: ``tokenize.phrase_joiner``: phrases are shown as the groups file writes them ("motion picture").
    joiner: str = TokenizeConfig.phrase_joiner
    #: What the baseline and the run are called (:func:`swapvec.summary.compared`).
    heads: tuple[str, str] = WITHOUT_WITH
    #: What a promise kept before the guarantee step was kept by (:func:`swapvec.summary.kept_by`).
    kept_by: str = "training alone"


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


#: A page's parts, rendered to Markdown and HTML alike: ("h1"/"h2"/"h3"/"p", text), ("table", (header, rows)) or
#: ("img", (file, alt text)).
Part = tuple[str, Any]


def render(
    folder: Path,
    info: ReportInfo,
    groups: list[Group],
    evaluation: Evaluation,
    baseline: Evaluation | None = None,
    moves: list[dict[str, Any]] | None = None,
) -> Path:
    """Write report.md, report.html and the plots into ``folder`` (which must exist); returns report.md's path.

    ``evaluation`` and ``baseline`` (the run without groups, when ``evaluate.baseline`` made one) are
    :func:`swapvec.evaluate.evaluate`'s, with the vectors they were computed on; ``moves``: what the guarantee step did
    to each group (``runs.details["guarantee"]``), when it ran.
    """
    import matplotlib

    matplotlib.use("Agg")
    if evaluation.vectors is None or (baseline is not None and baseline.vectors is None):
        raise ValueError("render needs the evaluations' vectors (evaluate.evaluate keeps them)")
    after_pairs = _pairs(evaluation)
    before_pairs = _pairs(baseline) if baseline is not None else {}
    parts = [*_head_parts(info, groups, evaluation), *_score_parts(info, evaluation, baseline)]
    if moves:
        parts += _guarantee_parts(moves, groups, info)
    if after_pairs:
        before_ranks = list(before_pairs.values()) or None
        ranks_figure(folder / "ranks.svg", list(after_pairs.values()), before_ranks, info.heads)
        parts += [("h2", "In-group ranks"), ("img", ("ranks.svg", "histogram of in-group ranks"))]
    if groups:
        parts += _group_parts(folder, info, groups, evaluation, baseline, after_pairs, before_pairs)
    if evaluation.repels:
        parts += [("h2", "Repelled pairs"), ("table", repel_table(evaluation, baseline, info.joiner))]
    return _write_pages(folder, info.run_id, parts)


def _head_parts(info: ReportInfo, groups: list[Group], evaluation: Evaluation) -> list[Part]:
    return [
        ("h1", f"swapvec report: run {info.run_id}"),
        (
            "p",
            f"Groups: {info.groups_path or 'none'} ({len(groups)} groups); lexicon: {info.lexicon_path or 'none'}; "
            f"augment.method: {info.method}; backend: {info.backend}; evaluated among "
            f"{scope(evaluation.metrics, info.max_vocab)}. (n%): the benchmark's pairs or questions in the vocabulary; "
            f"under {MIN_COVERAGE:.0%} a score is not measured, and no change is shown.",
        ),
    ]


def _score_parts(info: ReportInfo, evaluation: Evaluation, baseline: Evaluation | None) -> list[Part]:
    """The scores: the run's, and beside them the baseline's and the change when there is one."""
    parts: list[Part] = [("h2", "Scores")]
    if baseline is not None:
        header = ["", *info.heads, "change"]
        rows = []
        for label, key, pattern, better, oov in scores(baseline, evaluation):
            was, now = baseline.metrics.get(key), evaluation.metrics.get(key)
            change = "-"
            if was is not None and now is not None and not (math.isnan(was) or math.isnan(now)):
                change = ("+" if now - was >= 0 else "") + pattern.format(now - was) + f" ({better} is better)"
            cells = [score_cell(m.metrics, key, pattern, oov) for m in (baseline, evaluation)]
            rows.append([label, *cells, change])
    else:
        header = ["", info.heads[1]]
        rows = [[row[0], score_cell(evaluation.metrics, row[1], row[2], row[4])] for row in scores(evaluation)]
        parts.append(("p", "No run without groups to compare with: set evaluate.baseline (swapvec run) for one."))
    return [*parts, ("table", (header, rows))]


def _group_parts(
    folder: Path,
    info: ReportInfo,
    groups: list[Group],
    evaluation: Evaluation,
    baseline: Evaluation | None,
    after_pairs: dict[tuple[int, str, str], int],
    before_pairs: dict[tuple[int, str, str], int],
) -> list[Part]:
    """Each group: its ranks (and the baseline's), its words missing from the vocabulary, and its plot (the first
    :data:`MAX_GROUPS_PLOTTED` groups)."""
    joiner, (before_head, after_head) = info.joiner, info.heads
    after_kv, before_kv = evaluation.vectors, baseline.vectors if baseline is not None else None
    note = f"{before_head} (left) and {after_head} (right)" if before_kv is not None else "after"
    parts: list[Part] = [
        ("h2", "Groups"),
        (
            "p",
            f"Each group's words (red; a star is a hub) and their {NEIGHBOURS_SHOWN} nearest other words (grey), "
            f"projected to 2-D by PCA of those points, {note}. Lines join each member to its group-mates. "
            "The ranks say where each mate stands among the member's neighbours (1 = nearest).",
        ),
    ]
    after_caption = f"after: trained with groups ({info.method})"
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
    return parts


def _write_pages(folder: Path, run_id: str, parts: list[Part]) -> Path:
    """report.md and report.html of ``parts``; returns report.md's path."""
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


def _guarantee_parts(moves: list[dict[str, Any]], groups: list[Group], info: ReportInfo) -> list[Part]:
    """The report's section on the guarantee step: its headline, and for each group whether the trained vectors kept
    its promise, the words the step moved and the least cosine between a moved word's trained and final vector."""
    joiner, by, titles = info.joiner, info.kept_by, {g.line: g for g in groups}
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
