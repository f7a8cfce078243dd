"""The one place a SparkSession is obtained.

Under spark-submit, on Databricks or on Spark Connect a session already exists or is configured by the platform:
``get_spark`` returns it untouched. Only when it builds a local session itself does it add the master, Delta's jars
and the local-only settings.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import SparkSession

from swapvec.compat import master, quiet_spark_logs, session_jars
from swapvec.config import SparkConfig
from swapvec.errors import SwapvecError, one_line
from swapvec.log import event, get_logger
from swapvec.store.paths import is_uri

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


#: Hadoop's connector for each object-store scheme a local session can reach without the platform's own, as Maven
#: coordinates without a version: the version must be the Hadoop of the Spark running (its own jars say which).
CONNECTORS = {"s3a": "org.apache.hadoop:hadoop-aws"}


def hadoop_version() -> str | None:
    """The Hadoop version this pyspark's jars carry (``hadoop-client-api-3.5.0.jar``), or None when unknown."""
    import pyspark

    found = sorted(Path(pyspark.__file__).parent.glob("jars/hadoop-client-api-*.jar"))
    return found[-1].name.removeprefix("hadoop-client-api-").removesuffix(".jar") if found else None


def connector_packages(uris: Sequence[str]) -> list[str]:
    """The Maven packages a local session needs to reach ``uris`` (``s3a://`` -> hadoop-aws of Spark's Hadoop)."""
    schemes = {u.split(":", 1)[0].lower() for u in uris if u and is_uri(u)}
    version = hadoop_version()
    return sorted(f"{CONNECTORS[s]}:{version}" for s in schemes if s in CONNECTORS and version)


def _manifest(packages: Sequence[str]) -> Path:
    import delta
    import pyspark

    version = getattr(delta, "__version__", None) or importlib.metadata.version("delta-spark")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "swapvec"
    extra = "-" + hashlib.sha1(",".join(sorted(packages)).encode()).hexdigest()[:10] if packages else ""
    return cache / f"delta-{version}-spark-{pyspark.__version__}{extra}.jars"


def _delta_jars(packages: Sequence[str] = ()) -> list[str]:
    """Jars to pass as ``spark.jars`` instead of resolving Delta's package (and ``packages``) at every start.

    ``SWAPVEC_DELTA_JARS`` (a folder, e.g. filled by ``make jars``) wins; otherwise the jars Spark's resolver
    found the first time, remembered in a manifest, as long as they are all still there. An empty list means:
    let Spark resolve the packages (network needed).
    """
    folder = os.environ.get("SWAPVEC_DELTA_JARS")
    if folder and not packages:
        jars = sorted(glob.glob(os.path.join(folder, "*.jar")))
        if not jars:
            raise SwapvecError(f"SWAPVEC_DELTA_JARS={folder} holds no jars")
        return jars
    manifest = _manifest(packages)
    if manifest.is_file():
        jars = manifest.read_text().split()
        if jars and all(Path(j.removeprefix("file://")).is_file() for j in jars):
            return jars
    return []


def _remember_jars(session: SparkSession, packages: Sequence[str]) -> None:
    jars = session_jars(session)
    if not jars:
        return
    manifest = _manifest(packages)
    try:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        tmp = manifest.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text("\n".join(jars) + "\n")
        tmp.replace(manifest)
    except OSError:  # a read-only home only costs the next start a resolution
        pass


def get_spark(cfg: SparkConfig | None = None, app_name: str = "swapvec", uris: Sequence[str] = ()) -> SparkSession:
    """Return the platform's session, or build a local one with Delta.

    Parameters
    ----------
    cfg
        Used only when a local session is built: ``master`` and extra ``conf``.
    app_name
        Application name shown in Spark's UI.
    uris
        The run's paths: a local session adds Hadoop's connector for an object store they name (``s3a://``: the
        hadoop-aws of Spark's own Hadoop), which a platform's session has already.

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
    packages = connector_packages(uris)
    jars = _delta_jars(packages)
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    else:
        from delta import configure_spark_with_delta_pip

        # The user's own packages too: Delta's helper sets spark.jars.packages, replacing theirs.
        theirs = [p for p in cfg.conf.get("spark.jars.packages", "").split(",") if p.strip()]
        builder = configure_spark_with_delta_pip(builder, extra_packages=[*packages, *theirs] or None)
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
    if not jars and "spark.jars.packages" not in cfg.conf:
        _remember_jars(session, packages)
    quiet_spark_logs(session, task_failures=os.environ.get("SWAPVEC_DEBUG") == "1")
    event(_log, "session.local", master=master(session), spark=session.version)
    return session
