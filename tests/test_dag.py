"""The Airflow DAG: it parses without an Airflow database, and its task submits jobs/run.py with the packed environment.

Airflow is loaded in a child interpreter with its own ``AIRFLOW_HOME``: importing it configures logging and warnings
process-wide, which must not leak into the other tests. The child fills a DagBag from ``dags/`` (Airflow's own
parser, which reports import errors), renders the task's templates for a logical date with the real Variable
accessor (Variables come from ``AIRFLOW_VAR_*``, the Spark connection from ``AIRFLOW_CONN_SPARK_DEFAULT``) and
runs the task, whose ``spark-submit`` is a stand-in on ``PATH`` that records the command line it was given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from swapvec.cli import build_parser
from swapvec.config import load_config

#: Importing Airflow and building its tasks takes seconds a test.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent(
    """
    import json, os, sys
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.execution_time.context import VariableAccessor

    dags, logical_date, out, dag_id, task_id = sys.argv[1:]
    bag = DagBag(dag_folder=dags)
    dag = bag.dags.get(dag_id)
    report = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}}
    if dag is not None:
        task = dag.get_task(task_id)
        variables = {"value": VariableAccessor(deserialize_json=False), "json": VariableAccessor(deserialize_json=True)}
        task.render_template_fields({"ds": logical_date, "var": variables})
        report.update(
            task_ids=sorted(dag.task_ids),
            schedule=str(dag.schedule),
            catchup=dag.catchup,
            max_active_runs=dag.max_active_runs,
            application=task.application,
            conf=task.conf,
            application_args=task.application_args,
        )
        task.execute(context={})  # runs the stand-in spark-submit
        with open(os.environ["SPARK_SUBMITTED"]) as f:
            report["command"] = json.load(f)
    with open(out, "w") as f:
        json.dump(report, f)
    """
)


def probe(
    tmp_path: Path,
    logical_date: str,
    variables: dict[str, str] | None = None,
    dag: tuple[str, str] = ("swapvec", "swapvec_run"),
) -> dict:
    """Parse and render a DAG's task (``dag``: its id and the task's) in a child interpreter; returns what it
    found."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow-home"),
        AIRFLOW_CONN_SPARK_DEFAULT="spark://spark-master:7077",
        **{f"AIRFLOW_VAR_{name.upper()}": value for name, value in (variables or {}).items()},
    )
    out = tmp_path / "probe.json"
    # The stand-in spark-submit: records its command line and succeeds.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    submit = bin_dir / "spark-submit"
    submit.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "json.dump([os.path.basename(sys.argv[0]), *sys.argv[1:]], open(os.environ['SPARK_SUBMITTED'], 'w'))\n"
    )
    submit.chmod(0o755)
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", SPARK_SUBMITTED=str(tmp_path / "submitted.json"))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "dags"), logical_date, str(out), *dag],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(out.read_text())
    assert found["import_errors"] == {}
    return found


def conf_args(command: list[str]) -> dict[str, str]:
    """The ``--conf key=value`` pairs of a spark-submit command line."""
    pairs = [command[i + 1] for i, arg in enumerate(command) if arg == "--conf"]
    return dict(pair.split("=", 1) for pair in pairs)


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.fixture(scope="module")
def defaults(tmp_path_factory) -> dict:
    """The DAG rendered for 2025-03-04 with no Variable set."""
    return probe(tmp_path_factory.mktemp("dag"), "2025-03-04")


def test_dag_is_one_daily_task_one_run_at_a_time(defaults):
    assert defaults["task_ids"] == ["swapvec_run"]
    assert (defaults["schedule"], defaults["catchup"], defaults["max_active_runs"]) == ("@daily", False, 1)


def test_dag_submits_run_py_as_swapvec_package_prints_it(defaults):
    command = defaults["command"]
    assert command[:3] == ["spark-submit", "--master", "spark://spark-master:7077"]
    assert conf_args(command) == {
        "spark.archives": f"{ROOT / 'dist' / 'swapvec-env.tar.gz'}#environment",
        "spark.pyspark.python": "./environment/bin/python",
        # The child interpreter ran the "task": the driver's Python is the one running Airflow.
        "spark.pyspark.driver.python": sys.executable,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    }
    assert option(command, "--py-files").startswith(str(ROOT / "dist" / "swapvec-"))
    assert option(command, "--packages") == "io.delta:delta-spark_4.2_2.13:4.4.0"
    # The job file, then its own arguments, the logical date as the run key.
    application = str(ROOT / "jobs" / "run.py")
    assert command[command.index(application) :] == [
        application,
        "--config",
        str(ROOT / "conf" / "local.yaml"),
        "--set",
        "run.key=2025-03-04",
    ]


def test_the_delta_package_matches_the_installed_pyspark_and_delta(defaults):
    from swapvec.package import delta_package

    assert option(defaults["command"], "--packages") == delta_package()


def test_the_job_reads_the_logical_date_as_its_run_key(defaults):
    application = defaults["application"]
    args = defaults["command"][defaults["command"].index(application) + 1 :]
    parsed = build_parser().parse_args(["run", *args])
    assert load_config(None, parsed.overrides).run.key == "2025-03-04"


def test_dag_takes_paths_from_airflow_variables(tmp_path):
    variables = {
        "swapvec_application": "/opt/swapvec/jobs/run.py",
        "swapvec_archive": "hdfs:///envs/swapvec-env.tar.gz",
        "swapvec_code": "hdfs:///envs/swapvec-0.2.0.zip",
        "swapvec_config": "/etc/swapvec/prod.yaml",
        "swapvec_driver_python": "./environment/bin/python",
        "swapvec_delta_package": "io.delta:delta-spark_4.2_2.13:4.5.0",
    }
    command = probe(tmp_path, "2025-12-31", variables)["command"]
    assert command[command.index("/opt/swapvec/jobs/run.py") + 1 :] == [
        "--config",
        "/etc/swapvec/prod.yaml",
        "--set",
        "run.key=2025-12-31",
    ]
    assert option(command, "--py-files") == "hdfs:///envs/swapvec-0.2.0.zip"
    assert option(command, "--packages") == "io.delta:delta-spark_4.2_2.13:4.5.0"
    conf = conf_args(command)
    assert conf["spark.archives"] == "hdfs:///envs/swapvec-env.tar.gz#environment"
    assert conf["spark.pyspark.driver.python"] == conf["spark.pyspark.python"] == "./environment/bin/python"


def test_the_incremental_dag_continues_each_day_from_the_model_already_there(tmp_path):
    found = probe(
        tmp_path,
        "2025-03-04",
        {"swapvec_incremental_input": "s3a://corpus/news", "swapvec_incremental_output": "s3a://tables/swapvec"},
        dag=("swapvec_incremental", "swapvec_increment"),
    )
    assert found["task_ids"] == ["swapvec_increment"] and found["max_active_runs"] == 1 and not found["catchup"]
    command = found["command"]
    args = command[command.index(found["application"]) + 1 :]
    cfg = load_config(None, build_parser().parse_args(["run", *args]).overrides)
    assert cfg.input.path == "s3a://corpus/news/2025-03-04" and cfg.run.key == "2025-03-04"
    assert cfg.output.path == cfg.train.init_from == "s3a://tables/swapvec" and cfg.train.init_optional
