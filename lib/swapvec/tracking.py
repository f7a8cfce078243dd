"""MLflow tracking, when MLflow is installed and configured: the config as params, the metrics, the report.

It is on when ``mlflow`` imports and a tracking server is named: ``tracking.uri``, ``MLFLOW_TRACKING_URI``, or
Databricks' own when running there. Otherwise nothing happens, and nothing is imported. MLflow is a side channel:
any failure in it is a warning in the log, never a failed run.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from swapvec.config import Config
from swapvec.errors import one_line
from swapvec.log import event, get_logger

if TYPE_CHECKING:
    from swapvec.runs import RunRecord

_log = get_logger("tracking")

#: MLflow refuses longer param values (``mlflow.utils.validation.MAX_PARAM_VAL_LENGTH``).
_MAX_PARAM_LENGTH = 6000
#: Params and metrics sent in one request (MLflow's batch limit is 100 params).
_BATCH = 100


def tracking_uri(cfg: Config) -> str | None:
    """The tracking server to log to, or None when MLflow is not configured (or not installed)."""
    uri = cfg.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        uri = "databricks"
    if not uri:
        return None
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return None
    return uri


def flat_params(config: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """``("train.window", "5")`` pairs of a nested config (already redacted); lists and nulls as JSON."""
    for key, value in sorted(config.items()):
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from flat_params(value, f"{name}.")
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            yield name, text[:_MAX_PARAM_LENGTH]


def log_run(cfg: Config, record: RunRecord) -> str | None:
    """Log one swapvec run to MLflow, if configured; returns the MLflow run id, or None.

    Parameters
    ----------
    cfg
        The run's config, logged as params with secrets redacted.
    record
        Its metrics and row counts (``rows.<table>``) become metrics; run_id, command and run key become tags; its
        status sets the MLflow run's; its report folder is logged as artifacts under ``report/``.
    """
    uri = tracking_uri(cfg)
    if uri is None:
        return None
    try:
        return _log_run(uri, cfg, record)
    except Exception as exc:  # a tracking server that is down must not fail a run that worked
        event(_log, "mlflow.failed", logging.WARNING, error=one_line(exc))
        return None


def _log_run(uri: str, cfg: Config, record: RunRecord) -> str:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    # A client of its own: swapvec never changes MLflow's global tracking URI or active run.
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(
        _experiment_id(client, cfg),
        run_name=record.run_id,
        tags={
            "swapvec.run_id": record.run_id,
            "swapvec.command": record.command,
            **({"swapvec.run_key": cfg.run.key} if cfg.run.key else {}),
        },
    )
    run_id = run.info.run_id
    params = [Param(k, v) for k, v in flat_params(json.loads(cfg.to_json()))]
    now = int(time.time() * 1000)
    values = {**record.metrics, **{f"rows.{k}": v for k, v in record.row_counts.items()}}
    metrics = [Metric(k, float(v), now, 0) for k, v in sorted(values.items())]
    for start in range(0, len(params), _BATCH):
        client.log_batch(run_id, params=params[start : start + _BATCH])
    for start in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _BATCH])
    report = record.report_dir
    if report is not None and report.is_dir():
        client.log_artifacts(run_id, str(report), artifact_path="report")
    client.set_terminated(run_id, status="FAILED" if record.status == "failed" else "FINISHED")
    event(_log, "mlflow.logged", mlflow_run_id=run_id, experiment_id=run.info.experiment_id)
    return run_id


def _experiment_id(client: Any, cfg: Config) -> str:
    """The experiment named by ``tracking.experiment``, ``MLFLOW_EXPERIMENT_NAME`` or ``MLFLOW_EXPERIMENT_ID``, else
    ``swapvec`` (``/Shared/swapvec`` on Databricks, where names are workspace paths); created when missing."""
    name = cfg.tracking.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name and os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return os.environ["MLFLOW_EXPERIMENT_ID"]
    if not name:
        name = "/Shared/swapvec" if os.environ.get("DATABRICKS_RUNTIME_VERSION") else "swapvec"
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)
