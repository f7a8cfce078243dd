"""MLflow: a configured tracking server gets the params, metrics and report; without one nothing is logged."""

from __future__ import annotations

import pytest

from swapvec.pipeline import execute
from swapvec.tracking import tracking_uri

mlflow = pytest.importorskip("mlflow")

FAST = ("train.backend=mllib", "train.epochs=1")


def test_a_run_is_logged_to_the_tracking_server(spark, seed_case, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the file store needs no database packages
    uri = (tmp_path / "mlruns").as_uri()
    conf = "{spark.x.password: pw, spark.es.net.http.auth.pass: pw2, spark.sql.shuffle.partitions: 2}"
    cfg = seed_case(*FAST, f"tracking.uri={uri}", "tracking.experiment=seed", f"spark.conf={conf}")
    result = execute(spark, cfg, "run")

    client = MlflowClient(tracking_uri=uri)
    [run] = client.search_runs([client.get_experiment_by_name("seed").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["swapvec.run_id"] == result.run_id
    assert run.data.params["train.backend"] == "mllib" and run.data.params["train.epochs"] == "1"
    assert run.data.params["spark.conf.spark.x.password"] == "*********(redacted)"
    # A connector's secret under a name no list holds; Spark's own harmless settings are shown.
    assert run.data.params["spark.conf.spark.es.net.http.auth.pass"] == "*********(redacted)"
    assert run.data.params["spark.conf.spark.sql.shuffle.partitions"] == "2"
    assert run.data.metrics["group_share_top10"] == result.metrics["group_share_top10"] == 1.0
    assert run.data.metrics["rows.sentences"] == 200
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert {"report/report.md", "report/report.html"} <= artifacts


def test_without_a_tracking_uri_nothing_is_logged(spark, seed_case, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = seed_case(*FAST)
    assert tracking_uri(cfg) is None
    execute(spark, cfg, "tokenize")
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()


def test_a_tracking_server_that_fails_never_fails_the_run(spark, seed_case, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    cfg = seed_case(*FAST, "tracking.uri=http://127.0.0.1:9")  # nothing listens on the discard port
    assert tracking_uri(cfg) == "http://127.0.0.1:9"  # tracking is on: the server is tried, and fails
    events: list[str] = []
    monkeypatch.setattr("swapvec.tracking.event", lambda log, name, *args, **fields: events.append(name))
    assert execute(spark, cfg, "tokenize").status == "succeeded"
    assert events == ["mlflow.failed"]  # a warning in the log, not an error
