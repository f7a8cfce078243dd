from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pyarrow.parquet as pq
import pytest
from gensim.models import KeyedVectors

from swapvec import command as command_module
from swapvec import runs, steps
from swapvec.config import load_config
from swapvec.errors import BadInput
from swapvec.evaluate import Evaluation, analogies, benchmarks, group_closeness
from swapvec.figures import neighbourhood, project
from swapvec.groups import Group
from swapvec.pipeline import execute, preflight
from swapvec.report import ReportInfo, render
from swapvec.store.report_folder import MARKER, check_report_folder, publish_report
from swapvec.summary import compared, kept_by, summary


def _is_svg(path: Path) -> bool:
    return ElementTree.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def _links(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)


def _with(evaluation: Evaluation, kv: KeyedVectors) -> Evaluation:
    """``evaluation`` carrying the vectors it was computed on, as ``evaluate.evaluate`` returns it."""
    evaluation.vectors = kv
    return evaluation


def _published(output_path, run_id: str, groups, evaluation: Evaluation, **kwargs) -> Path | None:
    """The report of ``evaluation`` made ``<output_path>/report``, as ``swapvec run`` makes it."""
    info = ReportInfo(run_id, groups_path="g.txt", method="swap")
    return publish_report(str(output_path), lambda folder: render(folder, info, groups, evaluation), **kwargs)


def test_a_groups_neighbourhood_is_its_words_nearest_others_in_a_stable_sorts_order():
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(300)]
    matrix = rng.normal(size=(300, 5)).astype(np.float32)
    matrix[[60, 40, 20]] = matrix[10] + 0.01  # three neighbours of w10 tied with one another
    kv = KeyedVectors(vector_size=5)
    kv.add_vectors(words, matrix)
    group = Group(members=("w0", "w10", "gone"), line=1)
    norms = np.linalg.norm(matrix, axis=1)
    expected = []
    for row in (0, 10):
        scores = (matrix[row] @ matrix.T) / (norms[row] * norms)
        scores[[0, 10]] = -np.inf
        expected += [words[j] for j in np.argsort(-scores, kind="stable")[:5] if words[j] not in expected]
    assert neighbourhood(kv, group) == (["w0", "w10"], expected)
    assert expected[5:8] == ["w20", "w40", "w60"]  # the ties by index


@pytest.mark.slow
def test_report_without_baseline_draws_after_only(tmp_path):
    rng = np.random.default_rng(4)
    words = [f"w{i}" for i in range(40)] + ["hub", "a", "b", "x", "y"]
    kv = KeyedVectors(vector_size=6)
    kv.add_vectors(words, rng.normal(size=(len(words), 6)).astype(np.float32))
    groups = [Group(members=("a", "b", "gone"), hub="hub", line=3), Group(members=("x", "y"), line=5)]
    evaluation = group_closeness(kv, groups)
    info = ReportInfo("r1", groups_path="g.txt", method="swap")
    md = render(tmp_path, info, groups, _with(evaluation, kv)).read_text()
    assert _links(md) == ["ranks.svg", "group-00003.svg", "group-00005.svg"]  # relative, beside report.md
    assert all(_is_svg(tmp_path / link) for link in _links(md))
    first = (tmp_path / "group-00003.svg").read_bytes()
    render(tmp_path, info, groups, evaluation)
    assert (tmp_path / "group-00003.svg").read_bytes() == first  # no date, no random ids: the same plot, the same bytes
    assert "| a | hub |" in md and "Not in the evaluated vocabulary: gone." in md
    assert "| with groups |" in md and "| without groups |" not in md
    assert '<img src="group-00005.svg"' in (tmp_path / "report.html").read_text()


def test_scores_over_a_sliver_of_a_benchmark_are_not_measured(tmp_path):
    # Words of three WS-353 pairs: a Spearman over them is noise, and must never read as a gain.
    words = ["tiger", "cat", "book", "paper", "computer", "keyboard"] + [f"w{i}" for i in range(100)]
    kv = KeyedVectors(vector_size=6)
    kv.add_vectors(words, np.random.default_rng(1).normal(size=(len(words), 6)).astype(np.float32))
    scores = benchmarks(kv)
    assert 98 < scores["ws353_oov_pct"] < 100 and np.isnan(scores["ws353"])
    assert scores["analogy_oov_pct"] == 100.0 and np.isnan(scores["analogy"])
    before = Evaluation(metrics={**scores, "ws353": 0.1})  # as an old run might have stored it
    text = summary(Evaluation(metrics=scores), before)
    [line] = [line for line in text.splitlines() if line.startswith("WS-353")]
    assert line.split()[-6:] == ["not", "measured", "(1%)", "not", "measured", "(1%)"]
    info = ReportInfo("r1", groups_path="g.txt", method="swap", max_vocab=1000)
    md = render(tmp_path, info, [], Evaluation(metrics={**scores, "evaluated_words": 106.0}, vectors=kv)).read_text()
    assert "evaluated among all 106 words of the vocabulary" in md and "| not measured (0%) |" in md


@pytest.mark.slow
def test_analogies_are_scored_as_gensim_scores_them(tmp_path):
    from gensim.test.utils import datapath

    # Vectors in which each section's second word is its first plus the section's offset, plus noise: gensim
    # answers some of the questions right, and a word in two spellings (Paris, PARIS) tests the upper-case rule.
    rng = np.random.default_rng(3)
    vectors: dict[str, np.ndarray] = {}
    offset = None
    for line in Path(datapath("questions-words.txt")).read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            offset = rng.normal(size=12)
            continue
        a, b, c, d = line.lower().split()
        for x, y in ((a, b), (c, d)):
            vectors.setdefault(x, rng.normal(size=12))
            vectors.setdefault(y, vectors[x] + offset + rng.normal(scale=0.6, size=12))
    words = list(vectors) + ["Paris", "PARIS"]
    kv = KeyedVectors(vector_size=12)
    kv.add_vectors(words, np.array([vectors.get(w.lower(), rng.normal(size=12)) for w in words], np.float32))
    expected, sections = kv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=len(kv))
    assert 0.2 < expected < 0.9
    assert analogies(kv, datapath("questions-words.txt")) == (expected, 0.0)
    # Under half of the questions in the vocabulary: not measured, and not computed.
    half = KeyedVectors(vector_size=12)
    half.add_vectors(words[: len(words) // 3], kv.vectors[: len(words) // 3])
    score, oov_pct = analogies(half, datapath("questions-words.txt"))
    assert np.isnan(score) and oov_pct > 50


def test_the_columns_name_what_the_baseline_is(tmp_path):
    def heads(*overrides: str) -> tuple[str, str]:
        a = load_config(None, ["augment.groups_path=g.txt", *overrides]).augment
        return compared(a, a.affected_only)

    assert heads() == ("without groups", "with groups") == heads("augment.method=both")
    assert heads("augment.method=retrofit") == ("before retrofitting", "after retrofitting")
    assert heads("augment.method=specialize") == ("before specialisation", "after specialisation")
    lexicon = ["augment.method=swap+specialize", "augment.lexicon_path=lex.txt"]
    assert heads(*lexicon) == ("before specialisation", "after specialisation")
    assert heads("augment.method=swap+specialize") == ("without groups", "with groups")
    assert heads("augment.affected_only=true", "train.init_from=old") == ("model continued", "groups added")
    kv = KeyedVectors(vector_size=6)
    kv.add_vectors(["a", "b", "c"], np.eye(3, 6, dtype=np.float32))
    groups = [Group(members=("a", "b"), line=1)]
    evaluation = group_closeness(kv, groups)
    assert summary(evaluation, evaluation, heads=heads(*lexicon)).splitlines()[0].split() == [
        "before",
        "specialisation",
        "after",
        "specialisation",
    ]
    info = ReportInfo("r1", groups_path="g.txt", method="specialize", heads=heads("augment.method=specialize"))
    md = render(tmp_path, info, groups, _with(evaluation, kv), evaluation).read_text()
    assert "| before specialisation | after specialisation | change |" in md
    assert "| rank before specialisation |" in md and "without groups" not in md


def test_the_summary_and_the_report_say_which_groups_the_guarantee_moved_and_how_far(tmp_path):
    rng = np.random.default_rng(4)
    words = [f"w{i}" for i in range(40)] + ["hub", "a", "b", "x", "y"]
    kv = KeyedVectors(vector_size=6)
    kv.add_vectors(words, rng.normal(size=(len(words), 6)).astype(np.float32))
    groups = [Group(members=("a", "b"), hub="hub", line=3), Group(members=("x", "y"), line=5)]
    evaluation = group_closeness(kv, groups)
    moves = [
        {"line": 3, "kept_by_training": False, "moved": ["a", "b"], "least_cosine": 0.8123, "met": True},
        {"line": 5, "kept_by_training": True, "moved": [], "least_cosine": 1.0, "met": True},
    ]
    lines = summary(evaluation, guarantee=moves).splitlines()
    headline = (
        "promises kept by training alone: 1 of 2 groups; moved by the guarantee: 1 group (2 words), least cosine 0.812"
    )
    assert headline in lines and lines.index(headline) < lines.index("group-mate ranks (member -> mate: rank)")
    assert lines[lines.index("  line 3: hub: a b") + 1] == "    moved by the guarantee: a, b (least cosine 0.812)"
    assert lines[lines.index("  line 5: x y") + 1] == "    kept by training alone: not moved"
    assert not any("guarantee" in line for line in summary(evaluation).splitlines())  # the step did not run
    info = ReportInfo("r1", groups_path="g.txt", method="both", kept_by=kept_by("retrofit"))
    md = render(tmp_path, info, groups, _with(evaluation, kv), moves=moves).read_text()
    assert "## The guarantee step" in md and "Promises kept by training and retrofitting: 1 of 2 groups" in md
    assert "| 3 | hub: a b | no | a, b | 0.812 | yes |" in md and "| 5 | x y | yes | - | - | yes |" in md


def _evaluated_groups() -> tuple[list[Group], Evaluation]:
    """Two groups and their evaluation, carrying the vectors it drew from."""
    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(30)] + ["a", "b", "x", "y"]
    kv = KeyedVectors(vector_size=6)
    kv.add_vectors(words, rng.normal(size=(len(words), 6)).astype(np.float32))
    groups = [Group(members=("a", "b"), line=1), Group(members=("x", "y"), line=2)]
    evaluation = group_closeness(kv, groups)
    evaluation.vectors = kv
    return groups, evaluation


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_report_folder_swapvec_did_not_write_is_refused_before_any_work_and_left_as_it_was(seed_case):
    cfg = seed_case()
    out = Path(cfg.output.path)
    folder = out / "report"
    folder.mkdir(parents=True)
    (folder / "thesis.md").write_text("mine", encoding="utf-8")
    refusal = f"^{re.escape(str(folder))} holds data swapvec did not write .*: choose another output.path or move"
    for command in ("run", "evaluate"):  # the commands that write a report; refused before a session starts
        with pytest.raises(BadInput, match=refusal):
            preflight(cfg, command)
    groups, evaluation = _evaluated_groups()
    with pytest.raises(BadInput, match=refusal):  # nor by a direct write
        _published(cfg.output.path, "r1", groups, evaluation)
    assert _files(folder) == {"thesis.md": b"mine"}
    # A report swapvec wrote, and a file someone put beside it during the run: refused at the swap as well.
    shutil.rmtree(folder)
    _published(cfg.output.path, "r1", groups, evaluation)
    (folder / "notes.txt").write_text("mine too", encoding="utf-8")
    before = _files(folder)
    with pytest.raises(BadInput, match=refusal):
        _published(cfg.output.path, "r2", groups, evaluation)
    assert _files(folder) == before
    assert sorted(p.name for p in out.iterdir()) == ["report"]  # nothing staged or set aside is left


@pytest.mark.slow
def test_a_report_swapvec_wrote_is_replaced_also_one_written_before_the_marker(tmp_path):
    out = tmp_path / "out"
    folder = out / "report"
    folder.mkdir(parents=True)
    groups, evaluation = _evaluated_groups()
    render(folder, ReportInfo("r1"), groups, evaluation)  # as swapvec wrote it, before the marker
    for plot in folder.glob("*.svg"):  # and before its plots were SVG
        plot.rename(plot.with_suffix(".png"))
    check_report_folder(str(out))
    _published(out, "r2", groups, evaluation)
    assert (folder / "report.md").read_text(encoding="utf-8").startswith("# swapvec report: run r2")
    assert (folder / MARKER).is_file() and not list(folder.glob("*.png"))
    (folder / "group-00002.svg").unlink()  # a report with fewer groups than the last is still swapvec's
    _published(out, "r3", groups, evaluation)
    assert (folder / "report.md").read_text(encoding="utf-8").startswith("# swapvec report: run r3")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report"]


def test_projection_of_points_in_a_plane_keeps_their_distances():
    angles = np.linspace(0, 2, 9)
    basis = np.linalg.qr(np.random.default_rng(1).normal(size=(5, 2)))[0]  # a plane in 5-D, through the origin
    points = np.stack([np.cos(angles), np.sin(angles)], axis=1) @ basis.T  # unit vectors
    flat = project(points)

    def distances(p):
        return np.linalg.norm(p[:, None] - p[None], axis=2)

    assert np.allclose(distances(flat), distances(points), atol=1e-9)


def test_run_with_retrofit_reports_before_and_after(spark, seed_case, monkeypatch):
    cfg = seed_case("augment.method=retrofit", "evaluate.baseline=true", "output.format=parquet", "train.sync_rounds=2")
    result = execute(spark, cfg, "run")
    folder = f"{cfg.output.path}/report"
    md = Path(f"{folder}/report.md").read_text(encoding="utf-8")
    assert "| before retrofitting | after retrofitting | change |" in md
    for link in _links(md):
        assert _is_svg(Path(folder, link))
    assert "group-00002.svg" in _links(md)  # the hub group, on line 2 of the seed's groups file
    [run] = pq.read_table(Path(f"{cfg.output.path}/runs").resolve()).to_pylist()
    metrics = dict(run["metrics"])
    assert run["run_id"] == result.run_id
    assert metrics["augmentation_factor"] == 1.0  # retrofitting alone makes no copies
    assert metrics["retrofit_seconds"] > 0 and "baseline_group_median_rank" in metrics
    details = json.loads(run["details"])
    assert details["groups"][0]["hub"] == "entertainment"
    # A later `swapvec evaluate` compares with the stored run without groups: the before/after report stays.
    again = execute(spark, cfg, "evaluate")
    md = Path(f"{folder}/report.md").read_text(encoding="utf-8")
    assert "| before retrofitting | after retrofitting | change |" in md
    assert again.details["baseline_of_run"] == result.run_id
    assert "baseline_group_median_rank" in again.metrics
    # The report is drawn while the tables are written: a run whose write fails leaves the last report in place.
    written = runs.write_output

    def failing(store, df, table, *args):
        if table == "similarities":
            raise RuntimeError("the similarities' commit failed")
        written(store, df, table, *args)

    monkeypatch.setattr(runs, "write_output", failing)
    with pytest.raises(RuntimeError, match="commit failed"):
        execute(spark, cfg, "run")
    assert Path(f"{folder}/report.md").read_text(encoding="utf-8").startswith(f"# swapvec report: run {again.run_id}")
    assert sorted(p.name for p in Path(cfg.output.path).iterdir() if p.name.startswith(".report")) == []
    # The report failing too: its error is raised, and the write's is logged, not lost.
    said = []
    monkeypatch.setattr(command_module, "event", lambda logger, name, **fields: said.append((name, fields)))

    def refused(*args, **kwargs):
        raise BadInput("the report could not be drawn")

    monkeypatch.setattr(steps, "render", refused)
    with pytest.raises(BadInput, match="could not be drawn"):
        execute(spark, cfg, "run")
    [(table, error)] = [(f["table"], f["error"]) for name, f in said if name == "table.write_failed"]
    assert table == "similarities" and "commit failed" in error


@pytest.mark.slow
def test_a_report_replaces_the_last_only_once_what_it_waits_for_succeeds(tmp_path):
    out = tmp_path / "out"
    groups, evaluation = _evaluated_groups()
    _published(out, "r1", groups, evaluation)
    before = _files(tmp_path / "out" / "report")

    def failed() -> None:
        raise RuntimeError("a table's write failed")

    with pytest.raises(RuntimeError, match="write failed"):
        _published(out, "r2", groups, evaluation, ready=failed)
    assert _files(tmp_path / "out" / "report") == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report"]  # the pages drawn for r2 are gone
    waited = []
    _published(out, "r3", groups, evaluation, ready=lambda: waited.append(True))
    assert waited == [True] and _files(tmp_path / "out" / "report")["report.md"].startswith(b"# swapvec report: run r3")


def test_what_a_killed_run_left_beside_the_report_is_removed_by_the_next_and_nothing_else(tmp_path):
    """A run killed while its tables were written (SIGKILL: no ``finally`` runs) leaves the pages it was drawing in a
    ``.report-XXXXXXXX`` folder, one a run, that no run removed. The next report removes those that are surely
    swapvec's and dead: named so, holding only a report's files, older than that run, held by no live run."""
    import fcntl
    import os
    import time

    out = tmp_path / "out"
    groups, evaluation = _evaluated_groups()
    _published(out, "r1", groups, evaluation)
    started = time.time()
    hour_ago = started - 3600

    def left(name: str, files: dict[str, str], mtime: float = hour_ago) -> Path:
        folder = out / name
        folder.mkdir()
        for file, text in files.items():
            (folder / file).write_text(text)
        os.utime(folder, (mtime, mtime))
        return folder

    left(".report-1a2b3c4d", {"report.md": "# swapvec report: run r0", "ranks.svg": "<svg/>"})  # killed drawing
    left(".report-5e6f7a8b", {})  # killed before its first page
    left(".report-old-9c0d1e2f", {"report.md": "# swapvec report", MARKER: ""})  # killed in the swap
    kept = {
        left(".report-3a4b5c6d", {"report.md": "#", "notes.txt": "mine"}),  # someone's file inside
        left(".report-drafts", {"report.md": "mine"}),  # not a name swapvec gives
        left(".report-7e8f9a0b", {"report.md": "#"}, mtime=started + 60),  # a run's that began after this one
    }
    live = left(".report-0a1b2c3d", {"report.md": "#"})  # a run's that is drawing now: it holds the lock
    held = os.open(live, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        _published(out, "r2", groups, evaluation, started=started)
    finally:
        os.close(held)
    assert {p.name for p in out.iterdir()} == {"report", live.name, *(folder.name for folder in kept)}
    assert (out / "report" / "report.md").read_text().startswith("# swapvec report: run r2")
    assert (out / ".report-3a4b5c6d" / "notes.txt").read_text() == "mine"
