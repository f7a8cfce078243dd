"""The one place a SparkSession is obtained.

Under spark-submit, on Databricks or on Spark Connect a session already exists or is configured by the platform:
``get_spark`` returns it untouched. Only when it builds a local session itself does it add the master, Delta's jars
and the local-only settings.
"""

from __future__ import annotations

import glob
import importlib.metadata
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from swapvec.compat import master, quiet_spark_logs, session_jars
from swapvec.config import SparkConfig
from swapvec.errors import SwapvecError, one_line
from swapvec.log import event, get_logger

_log = get_logger("session")

#: Local sessions only: sensible sizes for one machine. Anything in SparkConfig.conf wins.
_LOCAL_DEFAULTS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.driver.memory": "4g",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.databricks.delta.snapshotPartitions": "2",
}


def _platform_session() -> SparkSession | None:
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # spark-submit starts the JVM first and hands its gateway to Python; Connect is reached by SPARK_REMOTE; a
    # Databricks job (a wheel task, say) runs on a cluster whose session the runtime configures.
    if (
        os.environ.get("PYSPARK_GATEWAY_PORT")
        or os.environ.get("SPARK_REMOTE")
        or os.environ.get("SPARK_CONNECT_MODE_ENABLED")
        or os.environ.get("DATABRICKS_RUNTIME_VERSION")
    ):
        return SparkSession.builder.getOrCreate()
    return None


def _manifest() -> Path:
    import delta
    import pyspark

    version = getattr(delta, "__version__", None) or importlib.metadata.version("delta-spark")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "swapvec"
    return cache / f"delta-{version}-spark-{pyspark.__version__}.jars"


def _delta_jars() -> list[str]:
    """Jars to pass as ``spark.jars`` instead of resolving Delta's package at every start.

    ``SWAPVEC_DELTA_JARS`` (a folder, e.g. filled by ``make jars``) wins; otherwise the jars Spark's resolver
    found the first time, remembered in a manifest, as long as they are all still there. An empty list means:
    let Spark resolve the package (network needed).
    """
    folder = os.environ.get("SWAPVEC_DELTA_JARS")
    if folder:
        jars = sorted(glob.glob(os.path.join(folder, "*.jar")))
        if not jars:
            raise SwapvecError(f"SWAPVEC_DELTA_JARS={folder} holds no jars")
        return jars
    manifest = _manifest()
    if manifest.is_file():
        jars = manifest.read_text().split()
        if jars and all(Path(j.removeprefix("file://")).is_file() for j in jars):
            return jars
    return []


def _remember_jars(session: SparkSession) -> None:
    jars = session_jars(session)
    if not jars:
        return
    manifest = _manifest()
    try:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        tmp = manifest.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text("\n".join(jars) + "\n")
        tmp.replace(manifest)
    except OSError:  # a read-only home only costs the next start a resolution
        pass


def get_spark(cfg: SparkConfig | None = None, app_name: str = "swapvec") -> SparkSession:
    """Return the platform's session, or build a local one with Delta.

    Parameters
    ----------
    cfg
        Used only when a local session is built: ``master`` and extra ``conf``.
    app_name
        Application name shown in Spark's UI.

    Returns
    -------
    SparkSession
    """
    session = _platform_session()
    if session is not None:
        return session
    cfg = cfg or SparkConfig()
    # Python workers must run this interpreter, with this environment's packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(os.environ.get("SWAPVEC_MASTER", cfg.master)).appName(app_name)
    for key, value in {**_LOCAL_DEFAULTS, **cfg.conf}.items():
        builder = builder.config(key, value)
    jars = _delta_jars()
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    else:
        from delta import configure_spark_with_delta_pip

        builder = configure_spark_with_delta_pip(builder)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        # With the jars at hand nothing was fetched: the JVM itself would not start (spark.conf, memory, Java).
        hint = (
            "check spark.conf and that Java runs"
            if jars
            else "Delta's jars come from Maven Central at start: check network access, or fetch them with "
            "`make jars` and set SWAPVEC_DELTA_JARS"
        )
        raise SwapvecError(f"could not start local Spark with Delta ({one_line(exc)}); {hint}") from None
    if not jars:
        _remember_jars(session)
    quiet_spark_logs(session, task_failures=os.environ.get("SWAPVEC_DEBUG") == "1")
    event(_log, "session.local", master=master(session), spark=session.version)
    return session
