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

A second DAG, ``swapvec_incremental``, trains each day's new data on top of the day before's model: the day's
partition ``<swapvec_incremental_input>/<ds>`` (default ``data/<ds>``) into ``swapvec_incremental_output`` (default
``warehouse-incremental``), continuing from the model table already there (``train.init_from`` is the output path
itself; ``train.init_optional`` lets the first day start from scratch). Days run one at a time, and a rerun of a day
is skipped by its run key, as for ``swapvec``. Run keys also keep a day older than the last one trained from
writing (its tables are kept): a missed day must be run before the days after it, so ``catchup`` stays off and a
gap is filled by hand, in order.
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


def submit(task_id: str, *settings: str) -> SparkSubmitOperator:
    """The spark-submit task of ``jobs/run.py`` with the packed environment, the config file and ``settings``
    (``--set`` pairs), keyed by the logical date."""
    return SparkSubmitOperator(
        task_id=task_id,
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
            *[arg for pair in settings for arg in ("--set", pair)],
            "--set",
            "run.key={{ ds }}",
        ],
    )


#: Both DAGs: one run at a time (every run overwrites the same tables); exit code 1 (lost executors, storage
#: errors) is worth a retry, bad input (2) fails every attempt alike.
_DAILY = {
    "schedule": "@daily",
    "start_date": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": {"retries": 2, "retry_delay": dt.timedelta(minutes=10)},
}

with DAG(
    dag_id="swapvec",
    description="Train swap-augmented word vectors and their similarity tables (swapvec run)",
    doc_md=__doc__,
    tags=["swapvec", "spark"],
    **_DAILY,
) as dag:
    submit("swapvec_run")

with DAG(
    dag_id="swapvec_incremental",
    description="Each day's new data trained on top of the day before's model (train.init_from)",
    doc_md=__doc__,
    tags=["swapvec", "spark", "incremental"],
    **_DAILY,
) as incremental:
    tables = setting("incremental_output", "warehouse-incremental")
    submit(
        "swapvec_increment",
        "input.path=" + setting("incremental_input", "data") + "/{{ ds }}",
        f"output.path={tables}",
        f"train.init_from={tables}",
        "train.init_optional=true",
    )
