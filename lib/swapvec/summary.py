"""The run's results as text for people: the scores table, each group's ranks and the repelled pairs (the summary a
command prints and the report's tables), from :class:`swapvec.evaluate.Evaluation`.
"""

from __future__ import annotations

import math
from typing import Any

from swapvec.config import AugmentConfig
from swapvec.evaluate import MIN_COVERAGE, Evaluation
from swapvec.groups import Group
from swapvec.phrases import readable, readable_all

#: The scores a person reads, in order: label, metric, format, which way is better, and the metric of the share of
#: the benchmark out of the vocabulary (None for the group scores).
SCORES = (
    ("members with all group-mates in top 10", "group_share_top10", "{:.3f}", "higher", None),
    ("hub members whose nearest word is the hub", "group_hub_first", "{:.3f}", "higher", None),
    ("median rank of a group-mate", "group_median_rank", "{:.1f}", "lower", None),
    ("repelled pairs inside each other's top 10", "repel_share_in_top10", "{:.3f}", "lower", None),
    ("mean cosine of repelled pairs", "repel_mean_cosine", "{:.3f}", "lower", None),
    ("lexicon: attract pairs within top 10", "lexicon_attract_share_in_top10", "{:.3f}", "higher", None),
    ("lexicon: attract pairs' mean cosine", "lexicon_attract_mean_cosine", "{:.3f}", "higher", None),
    ("lexicon: repel pairs within top 10", "lexicon_repel_share_in_top10", "{:.3f}", "lower", None),
    ("lexicon: repel pairs' mean cosine", "lexicon_repel_mean_cosine", "{:.3f}", "lower", None),
    ("WS-353 (Spearman)", "ws353", "{:.3f}", "higher", "ws353_oov_pct"),
    ("SimLex-999 (Spearman)", "simlex999", "{:.3f}", "higher", "simlex999_oov_pct"),
    ("Google analogies (accuracy)", "analogy", "{:.3f}", "higher", "analogy_oov_pct"),
)


def scores(*evaluations: Evaluation | None) -> list[tuple[str, str, str, str, str | None]]:
    """The :data:`SCORES` rows that one of ``evaluations`` measured (the repel rows only where there are repel
    lines)."""
    return [row for row in SCORES if any(e is not None and row[1] in e.metrics for e in evaluations)]


def format_score(value: float | None, pattern: str) -> str:
    """A score for people: ``-`` when missing, a whole median rank without decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if pattern == "{:.1f}" and float(value).is_integer():
        return f"{value:.0f}"
    return pattern.format(value)


def score_cell(metrics: dict[str, float], key: str, pattern: str, oov_key: str | None) -> str:
    """A score with the share of its benchmark covered: ``0.512 (83%)``, or ``not measured (4%)`` below
    ``MIN_COVERAGE``; a group score as :func:`format_score` writes it."""
    oov = metrics.get(oov_key) if oov_key else None
    if oov is None:
        return format_score(metrics.get(key), pattern)
    covered = f"({100 - oov:.0f}%)"
    if 100 - oov < 100 * MIN_COVERAGE:
        return f"not measured {covered}"
    return f"{format_score(metrics.get(key), pattern)} {covered}"


def scope(metrics: dict[str, float], max_vocab: int) -> str:
    """Which words the scores range over, as the run saw them."""
    words = int(metrics.get("evaluated_words", 0))
    if words < max_vocab:
        return f"all {words:,} words of the vocabulary"
    return f"the {max_vocab:,} most frequent words (and the group words)"


def group_title(group: Group | dict[str, Any], joiner: str = "_") -> str:
    """``hub: a b c`` or ``a b c``, of a group or of its entry in ``Evaluation.groups``; phrases in quotes."""
    hub, members = (group.hub, group.members) if isinstance(group, Group) else (group["hub"], group["members"])
    spaced = readable_all(members, joiner)
    return f"{readable(hub, joiner)}: {spaced}" if hub else spaced


#: What the baseline and the run are called when the baseline is the run trained without the groups.
WITHOUT_WITH = ("without groups", "with groups")


def compared(a: AugmentConfig, affected_only: bool) -> tuple[str, str]:
    """What the baseline is and what the run is, as column heads: the run trained without the groups (swap), the
    vectors before retrofitting or specialisation (no copies, or a lexicon), or the model a run that trained the
    affected sentences only (``affected_only``, as the command resolved ``augment.affected_only``) continued
    (:func:`swapvec.steps.baseline_of` chooses the baseline)."""
    if affected_only:
        return "model continued", "groups added"
    if a.after_training and (not a.copies or a.lexicon_path):
        step = "retrofitting" if a.after_training == "retrofit" else "specialisation"
        return f"before {step}", f"after {step}"
    return WITHOUT_WITH


def kept_by(after_training: str | None) -> str:
    """What a promise kept before the guarantee step was kept by: training alone, or training and the step after it
    (``augment.after_training``: retrofitting, specialisation)."""
    if not after_training:
        return "training alone"
    return "training and " + ("retrofitting" if after_training == "retrofit" else "specialisation")


def guarantee_headline(entries: list[dict[str, Any]], by: str = "training alone") -> str:
    """The guarantee step in one line, from ``runs.details["guarantee"]``: how many groups' promises held before it,
    and how many groups it moved and how far (the least cosine between a moved word's trained and final vector).

    Examples
    --------
    >>> entries = [
    ...     {"line": 1, "kept_by_training": True, "moved": [], "least_cosine": 1.0, "met": True},
    ...     {"line": 2, "kept_by_training": False, "moved": ["a", "b"], "least_cosine": 0.75, "met": True},
    ... ]
    >>> guarantee_headline(entries)
    'promises kept by training alone: 1 of 2 groups; moved by the guarantee: 1 group (2 words), least cosine 0.750'
    """
    kept, moved = sum(e["kept_by_training"] for e in entries), [e for e in entries if e["moved"]]
    text = f"promises kept by {by}: {kept} of {_count(len(entries), 'group')}"
    if moved:
        words, least = sum(len(e["moved"]) for e in moved), min(e["least_cosine"] for e in moved)
        text += f"; moved by the guarantee: {_count(len(moved), 'group')} ({_count(words, 'word')}), "
        text += f"least cosine {least:.3f}"
    else:
        text += "; the guarantee moved no word"
    missed = [str(e["line"]) for e in entries if not e["met"]]
    if missed:
        text += f"; still missed after it: line{'s' * (len(missed) > 1)} {', '.join(missed)}"
    return text


def guarantee_note(entry: dict[str, Any], joiner: str = "_", by: str = "training alone") -> str:
    """One group's line of the guarantee step: the words it moved and how far, or that the promise held without it.

    Examples
    --------
    >>> guarantee_note({"line": 2, "kept_by_training": False, "moved": ["a", "b"], "least_cosine": 0.75, "met": True})
    'moved by the guarantee: a, b (least cosine 0.750)'
    """
    if entry["moved"]:
        words = ", ".join(readable(w, joiner) for w in entry["moved"])
        text = f"moved by the guarantee: {words} (least cosine {entry['least_cosine']:.3f})"
    else:
        text = f"kept by {by}: not moved" if entry["kept_by_training"] else "not moved"
    return text if entry["met"] else f"{text}; the promise still misses"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def summary(
    result: Evaluation,
    baseline: Evaluation | None = None,
    joiner: str = "_",
    heads: tuple[str, str] = WITHOUT_WITH,
    guarantee: list[dict[str, Any]] | None = None,
    by: str = "training alone",
) -> str:
    """A readable report: the metrics (``heads``: before and after, when a baseline is given), what the guarantee
    step did (``guarantee``: ``runs.details["guarantee"]``; ``by``: what kept a promise before it, :func:`kept_by`)
    and each group's ranks; a phrase (its words joined by ``joiner``) in double quotes."""
    lines = []
    if baseline is not None:
        lines.append(f"{'':42} {heads[0]:>22} {heads[1]:>22}")
        for label, key, pattern, _, oov in scores(baseline, result):
            before, after = (score_cell(m.metrics, key, pattern, oov) for m in (baseline, result))
            lines.append(f"{label:42} {before:>22} {after:>22}")
    else:
        for label, key, pattern, _, oov in scores(result):
            lines.append(f"{label:42} {score_cell(result.metrics, key, pattern, oov):>20}")
    lines.append(
        f"(n%): the benchmark's pairs or questions in the vocabulary; under {MIN_COVERAGE:.0%} a score is not measured"
    )
    if guarantee:
        lines.append(guarantee_headline(guarantee, by))
    moves = {e["line"]: e for e in guarantee or ()}
    before_ranks = {g["line"]: g for g in baseline.groups} if baseline else {}
    if result.groups:
        lines.append("")
        lines.append("group-mate ranks (member -> mate: rank" + (", was rank)" if baseline else ")"))
        for group in result.groups:
            lines.append(f"  line {group['line']}: {group_title(group, joiner)}")
            if group["line"] in moves:
                lines.append(f"    {guarantee_note(moves[group['line']], joiner, by)}")
            old = before_ranks.get(group["line"], {}).get("ranks", {})
            for member, mates in group["ranks"].items():
                cells = []
                for mate, rank in mates.items():
                    was = old.get(member, {}).get(mate)
                    cells.append(f"{readable(mate, joiner)} {rank}" + (f" (was {was})" if was is not None else ""))
                lines.append(f"    {readable(member, joiner)} -> " + ", ".join(cells))
            if group["missing"]:
                lines.append(f"    not in the vocabulary: {readable_all(group['missing'], joiner)}")
    lines += _repel_lines(result, baseline, joiner)
    return "\n".join(lines)


def repel_table(
    result: Evaluation, baseline: Evaluation | None = None, joiner: str = "_"
) -> tuple[list[str], list[list[str]]]:
    """The repelled pairs as a table (header, rows): line, pair, rank (the nearer of the two ways), cosine, and the
    baseline's rank and cosine when there is one."""
    before = {(r["line"], *p["words"]): p for r in (baseline.repels if baseline else []) for p in r["pairs"]}
    header = ["line", "pair", "rank", "cosine"] + (["rank before", "cosine before"] if baseline else [])
    rows = []
    for rep in result.repels:
        for pair in rep["pairs"]:
            a, b = pair["words"]
            pair_text = f"{readable(a, joiner)} != {readable(b, joiner)}"
            row = [str(rep["line"]), pair_text, str(min(pair["rank"], pair["rank_back"])), f"{pair['cosine']:.3f}"]
            if baseline:
                was = before.get((rep["line"], a, b))
                row += [str(min(was["rank"], was["rank_back"])), f"{was['cosine']:.3f}"] if was else ["-", "-"]
            rows.append(row)
    return header, rows


def _repel_lines(result: Evaluation, baseline: Evaluation | None, joiner: str = "_") -> list[str]:
    """The summary's section on repelled pairs: each pair's rank and cosine, and before."""
    if not result.repels:
        return []
    lines = ["", "repelled pairs (left != right: rank, cosine" + (", was)" if baseline else ")")]
    for row in repel_table(result, baseline, joiner)[1]:
        was = f" (was rank {row[4]}, cosine {row[5]})" if baseline else ""
        lines.append(f"  line {row[0]}: {row[1]}: rank {row[2]}, cosine {row[3]}{was}")
    for rep in result.repels:
        if rep["missing"]:
            left, right, missing = (readable_all(rep[k], joiner) for k in ("left", "right", "missing"))
            lines.append(f"  line {rep['line']}: {left} != {right}: not in the vocabulary: {missing}")
    return lines
