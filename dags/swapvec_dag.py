"""Airflow: run the whole swapvec pipeline every day with spark-submit, shipping what ``swapvec package`` built.

One task submits ``jobs/run.py`` (``swapvec run``) as the line ``swapvec package`` prints does: the packed
environment as an archive (``swapvec-env.tar.gz#environment``) so that executors run ``./environment/bin/python``
with swapvec's dependencies, the swapvec code as ``--py-files``, Delta's jars as ``--packages``. The schedule's
logical date is passed as ``run.key``, so that a rerun of a day is recognised as the same run.

The Spark connection (``spark_default``) says where to submit: master, deploy mode, queue. The rest comes from
Airflow Variables, read when the task runs (never when the DAG is parsed); each is optional. The defaults point into
the checkout that holds this file (``dags/`` beside ``jobs/``, ``conf/`` and ``dist/``):

* ``swapvec_application``: the job file; default ``jobs/run.py``.
* ``swapvec_archive``: the environment archive, a local path or a URI the cluster reads (``hdfs://``, ``s3a://``);
  default ``dist/swapvec-env.tar.gz``.
* ``swapvec_code``: the code zip; default the newest ``dist/swapvec-<version>.zip``.
* ``swapvec_config``: the config file, which the driver reads as a local file; default ``conf/local.yaml``.
* ``swapvec_driver_python``: the driver's Python. The default, the interpreter running the Airflow task, suits client
  deploy mode, where the driver runs on the Airflow worker and needs swapvec's dependencies there; in cluster deploy
  mode use ``./environment/bin/python``.
* ``swapvec_delta_package``: Delta's Maven coordinates, matching swapvec's delta-spark and pyspark.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG

CHECKOUT = Path(__file__).resolve().parents[1]
DIST = CHECKOUT / "dist"
#: The folder the archive unpacks to in each container's working directory (``#environment``).
ENVIRONMENT = "environment"
#: As pyproject pins them: pyspark 4.2 (Scala 2.13) and delta-spark 4.4.0.
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
CONN_ID = "spark_default"


def setting(name: str, default: str) -> str:
    """A template for Airflow Variable ``swapvec_<name>``, or ``default`` when it is not set."""
    return f"{{{{ var.value.get('swapvec_{name}', {default!r}) }}}}"


def newest_code_zip() -> str:
    """The code zip ``swapvec package`` wrote last into ``dist/``; its name carries the version."""
    built = sorted(DIST.glob("swapvec-*.zip"), key=lambda path: path.stat().st_mtime)
    return str(built[-1] if built else DIST / "swapvec-VERSION.zip")


with DAG(
    dag_id="swapvec",
    description="Train swap-augmented word vectors and their similarity tables (swapvec run)",
    doc_md=__doc__,
    schedule="@daily",
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    # Every run overwrites the same tables: one at a time.
    max_active_runs=1,
    # Exit code 1 (lost executors, storage errors) is worth a retry; bad input (2) fails every attempt alike.
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=10)},
    tags=["swapvec", "spark"],
) as dag:
    SparkSubmitOperator(
        task_id="swapvec_run",
        conn_id=CONN_ID,
        name="swapvec-{{ ds }}",
        application=setting("application", str(CHECKOUT / "jobs" / "run.py")),
        py_files=setting("code", newest_code_zip()),
        packages=setting("delta_package", DELTA_PACKAGE),
        conf={
            # What --archives sets; the operator templates `conf` but not its `archives` argument.
            "spark.archives": setting("archive", str(DIST / "swapvec-env.tar.gz")) + f"#{ENVIRONMENT}",
            "spark.pyspark.python": f"./{ENVIRONMENT}/bin/python",
            "spark.pyspark.driver.python": setting("driver_python", sys.executable),
            **DELTA_CONF,
        },
        application_args=[
            "--config",
            setting("config", str(CHECKOUT / "conf" / "local.yaml")),
            "--set",
            "run.key={{ ds }}",
        ],
    )
