"""The one place a SparkSession is obtained, and where the driver JVM of a local one ends.

Under spark-submit, on Databricks or on Spark Connect a session already exists or is configured by the platform:
``get_spark`` returns it untouched. Only when it builds a local session itself does it add the master, Delta's jars
and the local-only settings; :class:`LocalDriver` then ties the JVM it starts to the command that started it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import importlib.metadata
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import SparkSession

from swapvec.compat import (
    before_driver_exit,
    driver_connected,
    driver_process,
    forget_session,
    master,
    quiet_spark_logs,
    session_jars,
)
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
    if _platform_provides():
        return SparkSession.builder.getOrCreate()
    return None


def _platform_provides() -> bool:
    """True when the platform provides the session: spark-submit starts the JVM first and hands its gateway to
    Python; Connect is reached by SPARK_REMOTE; a Databricks job (a wheel task, say) runs on a cluster whose session
    the runtime configures."""
    hints = ("PYSPARK_GATEWAY_PORT", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "DATABRICKS_RUNTIME_VERSION")
    return any(os.environ.get(name) for name in hints)


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


# ------------------------------------------------------------------------------------------ the local driver's end
class LocalDriver:
    """The driver JVM that :func:`get_spark` starts for a local session, stopped with the command that started it,
    whatever ends the command.

    pyspark starts it as ``spark-submit``, a child of this process: a shell script that runs Spark's launcher (a
    first JVM) and then execs the driver's JVM, which writes its connection file into a folder pyspark made and
    from then on exits when its stdin (a pipe from this process) closes. A stop during that start left it running:
    pyspark removes the folder as the stop unwinds, and the JVM, finding it gone, printed a Java stack and never
    read its stdin, orphaned for minutes and more. So a command notes the processes it had before the start; a stop
    before the JVM has connected kills (SIGKILL: nothing of a JVM still starting is needed) every process that
    appeared under this one since; and at the command's end the driver's stdin is closed (Spark stops, the JVM exits
    within a second or two), and what is still there after a while is terminated, then killed.

    Only a JVM this command started is stopped: not a platform's (spark-submit, Databricks, a notebook's earlier
    session) nor a Spark Connect server. Processes are found by their parent in ``/proc`` (Linux); elsewhere only the
    driver pyspark knows of is stopped, once it has connected.
    """

    #: Seconds the driver gets to stop Spark and exit once its stdin is closed, then those to exit once terminated.
    GRACE = (20.0, 5.0)

    def __init__(self) -> None:
        # This command starts the JVM when this process has none yet and no platform provides one.
        self.owned = not driver_connected() and not _platform_provides()
        self._before = _descendants() if self.owned else set()
        self.starting = self.owned
        if self.owned:
            _adopt_orphans()

    def started(self) -> None:
        """The session is up: from now on a stop lets the run record itself, and the JVM is stopped at the end."""
        self.starting = False

    def abort_start(self) -> None:
        """Kill at once what the start has run so far (a signal handler's call, while the session starts), unless
        the JVM has connected already: it then reads its stdin, and :meth:`stop` ends it as it ends a run's."""
        if self.owned and self.starting and not driver_connected():
            self._kill_new(signal.SIGKILL, seconds=2.0)

    def stop(self) -> None:
        """Stop the JVM this command started, and whatever it runs: its stdin closed, then terminated, then killed,
        each after a wait. Nothing when the command did not start one."""
        if not self.owned:
            return
        jvm = driver_process()
        before_driver_exit()
        if jvm is not None and jvm.poll() is None:
            try:
                jvm.stdin.close()  # the JVM's own way out: it stops Spark and exits
                jvm.wait(timeout=self.GRACE[0])
            except (OSError, subprocess.TimeoutExpired):
                jvm.terminate()
        if jvm is not None and not _HAS_PROC:  # the driver is all there is to know of
            with contextlib.suppress(subprocess.TimeoutExpired):
                jvm.wait(timeout=self.GRACE[1])
            jvm.kill()
        if not self._kill_new(signal.SIGTERM, seconds=self.GRACE[1]):
            self._kill_new(signal.SIGKILL, seconds=self.GRACE[1])
        forget_session()

    def _kill_new(self, signum: int, seconds: float) -> bool:
        """Send ``signum`` to every process that appeared under this one since the command began, again to those
        that appear meanwhile (a shell forks as it is killed; its orphans come back to this process, see
        :func:`_adopt_orphans`), until none is left or ``seconds`` have passed; True when none is left."""
        deadline = time.monotonic() + seconds
        while left := _alive(_descendants() - self._before):
            if time.monotonic() > deadline:
                return False
            _kill(left, signum)
            time.sleep(0.02)
        return True


def _adopt_orphans() -> None:
    """Make this process the one its orphaned descendants are handed to (Linux's child subreaper), rather than
    init: a process the JVM's start forks just as its parent is killed, or one the JVM leaves as it exits, stays
    this process's descendant, so that it is found and stopped too. Elsewhere nothing changes."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


#: Whether processes can be found by their parent (Linux's /proc).
_HAS_PROC = os.path.isfile("/proc/self/stat")
#: A process: its id and its start time (clock ticks after boot), so that a reused id is not taken for it.
_Process = tuple[int, int]


def _descendants() -> set[_Process]:
    """This process's descendants, from ``/proc``; empty where there is no ``/proc``."""
    children: dict[int, list[_Process]] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return set()
    for entry in entries:
        stat = _stat(int(entry))
        if stat is not None:
            children.setdefault(stat[0], []).append((int(entry), stat[1]))
    found, todo = set(), [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child[0])
    return found


def _stat(pid: int) -> tuple[int, int] | None:
    """The parent id and start time of a live process (not a zombie); None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # after the command's name, which may hold spaces and ')'
    return None if fields[0] in ("Z", "X") else (int(fields[1]), int(fields[19]))


def _alive(processes: set[_Process]) -> set[_Process]:
    """Those of ``processes`` still running (the same process: its start time unchanged)."""
    return {(pid, started) for pid, started in processes if (stat := _stat(pid)) is not None and stat[1] == started}


def _kill(processes: set[_Process], signum: int) -> None:
    for pid, _ in _alive(processes):
        with contextlib.suppress(OSError):  # gone meanwhile
            os.kill(pid, signum)
