"""The Databricks bundle (``databricks.yml``): each job's command line, with the variables' defaults and a run date
put in, is a valid ``swapvec`` command and config (the Databricks CLI, which validates bundles, is not here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from swapvec.cli import build_parser
from swapvec.config import Config, load_config

BUNDLE = Path(__file__).resolve().parents[1] / "databricks.yml"


def _config(job: str, run_date: str = "2025-03-04") -> Config:
    bundle = yaml.safe_load(BUNDLE.read_text(encoding="utf-8"))
    defaults = {name: str(v.get("default", "")) for name, v in bundle["variables"].items()}
    [task] = bundle["resources"]["jobs"][job]["tasks"]
    args = []
    for arg in task["python_wheel_task"]["parameters"]:
        arg = re.sub(r"\$\{var\.(\w+)\}", lambda m: defaults[m.group(1)], str(arg))
        args.append(arg.replace("{{job.parameters.run_date}}", run_date))
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run"
    return load_config(None, parsed.overrides)


def test_the_daily_job_runs_the_pipeline_keyed_by_its_date():
    cfg = _config("swapvec")
    assert cfg.run.key == "2025-03-04" and cfg.train.init_from is None


def test_the_incremental_job_continues_each_day_from_the_model_already_there():
    cfg = _config("swapvec_incremental")
    assert cfg.input.path == "/Volumes/main/swapvec/data/corpus/2025-03-04" and cfg.run.key == "2025-03-04"
    assert cfg.output.path == cfg.train.init_from == "/Volumes/main/swapvec/data/warehouse-incremental"
    assert cfg.train.init_optional
