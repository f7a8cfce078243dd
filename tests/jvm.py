"""Options for the JVMs the suite starts, and a class-data archive that makes their start cheaper.

The suite starts about a dozen JVMs: each pytest worker's session, the ``swapvec`` processes it runs as a user
would, a standalone cluster's master, workers and executors. Before its first job each loads and verifies thousands
of Spark's and Delta's classes. A dynamic class-data-sharing archive (JDK 13 and later) of those classes maps them in
instead: a cold ``swapvec tokenize`` of the seed's case went from 23.6 s to 18.0 s on 2 cores (three each).

The archive is made once per machine and versions, by one run of the seed's case before the tests start
(:func:`ensure_archive`, under a minute), and kept in the user's cache as the cluster test keeps its packed environment.
Its name holds what it depends on (Java, Spark's folder, Delta's jars), so a change makes a new one. A missing,
stale or unreadable archive only costs that time back: the JVM then loads its classes as usual (its warning
silenced). Users' runs are untouched: only the suite passes these options.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent
#: For short-lived JVMs: the C1 compiler alone and the serial collector cost less CPU on 2 cores (the seed's run from
#: the console: 48.6 s -> 41.8 s). Not for the suite's long-lived sessions: MLlib's training there took 61 s, not 6.5.
SHORT = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"

#: The archive's workload: the seed's case (MLlib's backend: gensim's trains in Python workers) in the product's own
#: session (Delta's jars as users get them); then the JVM is let go and waited for: it writes the archive as it exits.
_WORKLOAD = textwrap.dedent(
    """
    import sys, tempfile
    from pathlib import Path
    from swapvec.config import load_config
    from swapvec.pipeline import execute
    from swapvec.session import get_spark
    from tests.conftest import SEED_GROUPS, SEED_LINES

    root = Path(tempfile.mkdtemp(dir=sys.argv[1]))
    (root / "corpus.txt").write_text("\\n".join(SEED_LINES * 50) + "\\n")
    (root / "groups.txt").write_text(SEED_GROUPS)
    spark = get_spark(load_config(None, []).spark)
    settings = [f"input.path={root / 'corpus.txt'}", f"augment.groups_path={root / 'groups.txt'}",
                f"output.path={root / 'out'}", "train.min_count=1", "train.backend=mllib", "train.epochs=1"]
    execute(spark, load_config(None, settings), "run")
    jvm = spark.sparkContext._gateway.proc
    spark.stop()
    jvm.stdin.close()  # the gateway exits when its stdin closes
    jvm.wait(timeout=300)
    """
)


@functools.cache
def _java_version() -> str:
    java = shutil.which("java") or "java"
    home = os.environ.get("JAVA_HOME")
    if home:
        java = str(Path(home) / "bin" / "java")
    proc = subprocess.run([java, "-version"], capture_output=True, text=True)
    return f"{Path(java).resolve()}\n{proc.stderr}"


def archive_path() -> Path:
    """Where the archive for this machine's Java, Spark and Delta is (or would be) kept."""
    from swapvec.session import _delta_jars

    key = "\n".join([_java_version(), str(SPARK_HOME), pyspark.__version__, *_delta_jars()])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "swapvec"
    return cache / f"test-jvm-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsa"


def ensure_archive(repo: Path) -> Path | None:
    """Make the archive unless it exists; None when it could not be made (the suite then runs without it)."""
    if archive_path().is_file():
        return archive_path()
    with tempfile.TemporaryDirectory() as work:
        partial = Path(work) / "classes.jsa"
        env = {**os.environ, "SPARK_SUBMIT_OPTS": f"{SHORT} -XX:ArchiveClassesAtExit={partial} -Xlog:cds*=off"}
        proc = subprocess.run(
            [sys.executable, "-c", _WORKLOAD, work], cwd=repo, env=env, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0 or not partial.is_file():
            print(f"tests: no class-data archive, JVMs start without one: {proc.stderr[-500:]}", file=sys.stderr)
            return None
        path = archive_path()  # named after the run: a first one has only now found Delta's jars
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(partial, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)  # whole or absent, for a suite started meanwhile
    return path


def archive_opts() -> str:
    """The options that map the archive in, when it exists; its load warnings (a stale archive) silenced."""
    path = archive_path()
    return f"-XX:SharedArchiveFile={path} -Xlog:cds*=off" if path.is_file() else ""


def short_jvm_opts() -> str:
    """Options for the suite's short-lived JVMs: :data:`SHORT` and the archive."""
    return f"{SHORT} {archive_opts()}".strip()
