"""The one place a SparkSession is obtained.

Under spark-submit, on Databricks or on Spark Connect a session already exists or is configured by the platform:
``get_spark`` returns it untouched. Only when it builds a local session itself does it add the master, Delta's jars
and the local-only settings.
"""

from __future__ import annotations

import glob
import os
import sys

from pyspark.sql import SparkSession

from swapvec.config import SparkConfig
from swapvec.errors import SwapvecError
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
    # spark-submit starts the JVM first and hands its gateway to Python; Connect is reached by SPARK_REMOTE.
    if (
        os.environ.get("PYSPARK_GATEWAY_PORT")
        or os.environ.get("SPARK_REMOTE")
        or os.environ.get("SPARK_CONNECT_MODE_ENABLED")
    ):
        return SparkSession.builder.getOrCreate()
    return None


def is_classic(spark: SparkSession) -> bool:
    """True when classic-only APIs (sparkContext, broadcast) are usable: not Spark Connect, not serverless."""
    try:
        return spark.sparkContext is not None
    except Exception:  # Spark Connect raises on sparkContext access.
        return False


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
    jars_dir = os.environ.get("SWAPVEC_DELTA_JARS")
    if jars_dir:
        # Fallback where Spark's own resolver cannot reach a repository: jars fetched ahead with Maven.
        jars = sorted(glob.glob(os.path.join(jars_dir, "*.jar")))
        if not jars:
            raise SwapvecError(f"SWAPVEC_DELTA_JARS={jars_dir} holds no jars")
        builder = builder.config("spark.jars", ",".join(jars))
    else:
        from delta import configure_spark_with_delta_pip

        builder = configure_spark_with_delta_pip(builder)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SwapvecError(
            f"could not start local Spark with Delta ({first}); Delta's jars come from Maven Central at start: "
            "check network access, or fetch them with `make jars` and set SWAPVEC_DELTA_JARS"
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    event(_log, "session.local", master=session.sparkContext.master, spark=session.version)
    return session
