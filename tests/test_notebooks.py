"""The Databricks notebooks, executed cell by cell on the real local session with a fake ``dbutils``.

Each notebook's Python cells run in one namespace, as on a cluster; ``# MAGIC`` cells (Markdown, ``%pip``) are
skipped. Only what cannot run here is faked: the widgets, ``display`` and ``displayHTML``, which record what they got.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from tests.conftest import SEED_GROUPS, SEED_LINES

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"


class FakeWidgets:
    """``dbutils.widgets``: a notebook defines its widgets; the test sets values, as a job's parameters would."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.defaults: dict[str, str] = {}
        self.choices: dict[str, list[str]] = {}

    def text(self, name: str, defaultValue: str, label: str | None = None) -> None:
        self.defaults[name] = defaultValue

    def dropdown(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        assert defaultValue in choices, f"widget {name}: default {defaultValue!r} is not a choice"
        self.defaults[name], self.choices[name] = defaultValue, list(choices)

    def get(self, name: str) -> str:
        if name not in self.defaults:
            raise KeyError(f"InputWidgetNotDefined: {name}")  # as Databricks does for an undefined widget
        value = self.values.get(name, self.defaults[name])
        assert name not in self.choices or value in self.choices[name], f"widget {name}: {value!r} is not a choice"
        return value

    def getArgument(self, name: str, default: str | None = None) -> str | None:
        return self.get(name) if name in self.defaults else default


class FakeDbutils:
    def __init__(self, values: dict[str, str]) -> None:
        self.widgets = FakeWidgets(values)


def python_cells(notebook: Path) -> list[str]:
    """The notebook's Python cells, in order; cells made only of ``# MAGIC`` lines are left out."""
    header, _, body = notebook.read_text(encoding="utf-8").partition("\n")
    assert header == HEADER, f"{notebook.name} is not in Databricks source format"
    cells = [cell.strip("\n") for cell in body.split(f"\n{SEPARATOR}\n")]
    return [c for c in cells if any(line.strip() and not line.startswith("# MAGIC") for line in c.splitlines())]


def run_notebook(spark, name: str, widgets: dict[str, str], *, until: str | None = None) -> dict[str, Any]:
    """Execute the notebook's Python cells; stop after the cell that defines ``until``. Returns the namespace."""
    dbutils = FakeDbutils(widgets)
    shown: list[Any] = []
    html: list[str] = []
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "spark": spark,
        "dbutils": dbutils,
        "display": shown.append,
        "displayHTML": html.append,
    }
    for number, cell in enumerate(python_cells(NOTEBOOKS / name), start=1):
        exec(compile(cell, f"notebooks/{name} (cell {number})", "exec"), namespace)
        if until and until in namespace:
            break
    unknown = set(widgets) - set(dbutils.widgets.defaults)
    assert not unknown, f"the test sets widgets that {name} does not define: {unknown}"
    return {**namespace, "_shown": shown, "_html": html}


@pytest.fixture(scope="module")
def seed_run(spark, tmp_path_factory):
    """The pipeline notebook run once on the seed's corpus and hub group; returns its namespace and output path."""
    root = tmp_path_factory.mktemp("notebooks")
    (root / "corpus.txt").write_text("\n".join(SEED_LINES * 50) + "\n", encoding="utf-8")
    (root / "groups.txt").write_text(SEED_GROUPS, encoding="utf-8")
    widgets = {
        "input_path": str(root / "corpus.txt"),
        "groups_path": str(root / "groups.txt"),
        "output_path": str(root / "out"),
        "backend": "mllib",
        # MLlib's default 5 epochs: after 1, the hub is the nearest word of some members only (median rank 3 seen).
        "more": "train.min_count=1; evaluate.baseline=false",
    }
    return run_notebook(spark, "pipeline.py", widgets), root / "out"


def test_notebooks_are_databricks_source_with_python_cells():
    for name in ("pipeline.py", "explore.py"):
        assert len(python_cells(NOTEBOOKS / name)) >= 2, name


def test_pipeline_notebook_writes_the_tables(seed_run):
    namespace, out = seed_run
    result = namespace["result"]
    cfg = result.config
    assert cfg.train.backend == "mllib" and cfg.train.min_count == 1 and cfg.output.path == str(out)
    vectors = DeltaTable(str(out / "vectors")).to_pyarrow_table().to_pylist()
    assert sorted(r["word"] for r in vectors) == ["cinema", "entertainment", "films", "movies"]
    sims = DeltaTable(str(out / "similarities")).to_pyarrow_table()
    assert set(sims.column("run_id").to_pylist()) == {result.run_id}
    runs = DeltaTable(str(out / "runs")).to_pyarrow_table().to_pylist()
    assert [(r["run_id"], r["command"], r["status"]) for r in runs] == [(result.run_id, "run", "succeeded")]
    assert (out / "report" / "report.html").is_file()
    assert "group-mate ranks" in result.summary
    # The notebook shows the run's similarities: the rows of this run's version of the table.
    [shown] = namespace["_shown"]
    assert {r.run_id for r in shown.collect()} == {result.run_id} and shown.count() == sims.num_rows


def test_explore_notebook_shows_neighbours_and_the_report(spark, seed_run, capsys):
    pipeline, out = seed_run
    namespace = run_notebook(spark, "explore.py", {"output_path": str(out), "words": "Movies, films,nowhere"})
    [neighbours] = namespace["_shown"]
    rows = [r.asDict() for r in neighbours.collect()]
    nearest = {r["word"]: r["neighbor"] for r in rows if r["rank"] == 1}
    assert nearest == {"movies": "entertainment", "films": "entertainment"}
    for word in ("movies", "films"):
        mine = [r for r in rows if r["word"] == word]
        assert [r["rank"] for r in mine] == [1, 2, 3]
        assert {r["neighbor"] for r in mine} == {"entertainment", "movies", "films", "cinema"} - {word}
        assert [r["similarity"] for r in mine] == sorted((r["similarity"] for r in mine), reverse=True)
    assert "not in the similarities table: nowhere" in capsys.readouterr().out
    [report] = namespace["_html"]
    assert pipeline["result"].run_id in report and "<table>" in report
    assert "data:image/svg+xml;base64," in report and 'src="ranks.svg"' not in report


def test_explore_notebook_without_a_run_names_the_missing_table(spark, tmp_path):
    from swapvec.errors import BadInput

    with pytest.raises(BadInput, match="no delta table at .*similarities"):
        run_notebook(spark, "explore.py", {"output_path": str(tmp_path / "empty")})


def test_pipeline_notebook_takes_a_widgets_text_as_it_is(spark, tmp_path):
    from swapvec.config import load_config

    widgets = {"run_key": "2024-05-01", "input_path": "2024", "output_path": str(tmp_path), "more": "train.epochs=2"}
    namespace = run_notebook(spark, "pipeline.py", widgets, until="config")
    cfg = load_config(namespace["config"], namespace["overrides"])
    assert cfg.run.key == "2024-05-01" and cfg.input.path == "2024" and cfg.train.epochs == 2
