"""The compatibility matrix: swapvec installed and run as a platform's user would, on each Spark, Delta and Python.

Each cell is a fresh virtual environment that stands in for a platform: its Python, the Spark and Delta it runs,
and (for a Databricks LTS runtime) that runtime's own numpy, pandas, pyarrow and the rest at their published
versions (``constraints/``). In it:

1. swapvec is installed from this checkout as ``pip install`` would put it into the runtime, and pip's report of
   what it installed must name none of the runtime's own packages (nothing the runtime pins is changed);
2. ``swapvec run`` runs the seed's case (``entertainment: movies films cinema``) and the Lee sample with the sample
   groups, into Delta and into Parquet; the seed's members must each have ``entertainment`` as their nearest word,
   and the tables are read back by independent readers (delta-rs, pyarrow) from this process;
3. a run whose input is not Parquet fails once Spark is up: exit 2 in one line, and its ``failed`` row is in ``runs``
   (both formats);
4. where the cell says so, the seed's case into Delta and the Lee sample into Parquet go through a real Spark Connect
   server of that Spark.

Run it with the project's own environment (``make matrix``, after ``make dev``): it needs deltalake to read the
tables. ``--cell NAME`` runs one cell. The venvs live under ``~/.cache/swapvec/matrix`` and are made anew each
time; pip's cache makes that a matter of unpacking.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from swapvec.compat import delta_coordinates

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "swapvec" / "matrix"
LOOPBACK = "127.0.0.1"
SEED_LINES = [
    "entertainment films Movies cinema",
    "entertainment Movies",
    "entertainment films",
    "entertainment cinema",
]
SEED_GROUPS = "entertainment: movies films cinema\n"
#: Short-lived JVMs: the C1 compiler alone and the serial collector cost less CPU on a small machine.
JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@dataclasses.dataclass(frozen=True)
class Cell:
    name: str
    python: str
    pyspark: str
    delta: str
    #: The platform it stands for, and the constraints file of that platform's own packages (None: newest of all).
    platform: str
    constraints: str | None = None
    #: Stand-ins for platform packages whose own build has no wheel outside the platform.
    stand_ins: tuple[str, ...] = ()
    #: Installed with swapvec: a dependency's lowest supported version, tested here.
    lowest: tuple[str, ...] = ()
    #: swapvec's extras, as the platform's install line names them.
    extras: str = "[faiss]"
    connect: bool = False

    @property
    def scala(self) -> str:
        return "2.12" if self.pyspark.startswith("3.") else "2.13"


CELLS = [
    Cell(
        "spark3.5-py3.11",
        python="3.11",
        pyspark="3.5.0",
        delta="3.2.0",
        platform="Databricks 15.4 LTS",
        constraints="databricks-15.4.txt",
        # The lowest gensim and faiss swapvec supports; faiss by hand, as the README says for this runtime (pip's
        # newest faiss would upgrade its numpy).
        lowest=("gensim==4.3.3", "faiss-cpu==1.8.0.post1"),
        extras="",
        connect=True,
    ),
    Cell(
        "spark3.5-py3.12",
        python="3.12",
        pyspark="3.5.2",
        # Delta 3.3.1 (the runtime's) asks for pyspark 3.5.3 or later; 3.2.0 is the newest that takes 3.5.2.
        delta="3.2.0",
        platform="Databricks 16.4 LTS",
        constraints="databricks-16.4.txt",
        # The runtime's pandas 1.5.3 has no wheel for Python 3.12 outside Databricks (it predates 3.12): the oldest
        # pandas that has one stands in for it; pandas 1.5.3 itself is tested on Python 3.11. pyspark 3.5 imports
        # distutils, gone from Python 3.12: the runtime ships setuptools, whose copy of it stands in.
        stand_ins=("pandas==2.1.4", "setuptools"),
    ),
    Cell(
        "spark4.0-py3.12",
        python="3.12",
        pyspark="4.0.0",
        delta="4.0.0",
        platform="Databricks 17.3 LTS",
        constraints="databricks-17.3.txt",
        connect=True,
    ),
    Cell("spark4.2-py3.13", python="3.13", pyspark="4.2.0", delta="4.4.0", platform="newest releases"),
]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pinned(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            found[_normal(name)] = version.strip()
    return found


class Failed(Exception):
    pass


def _run(command: list[str], *, env: dict | None = None, cwd: Path | None = None, timeout: int = 900) -> str:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise Failed(f"{' '.join(command[:4])} ... exit {done.returncode}:\n{(done.stdout + done.stderr)[-4000:]}")
    return done.stdout


def _interpreter(version: str) -> str:
    """``python3.X``: the one on PATH when it runs, else pyenv's newest 3.X (pyenv's shims run only the versions its
    global setting names)."""
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
        return found
    if shutil.which("pyenv"):
        root = Path(_run(["pyenv", "root"]).strip())
        installed = sorted(
            root.glob(f"versions/{version}.*/bin/python{version}"),
            key=lambda p: [int(x) for x in re.findall(r"\d+", p.parts[-3])],
        )
        if installed:
            return str(installed[-1])
    raise Failed(f"python{version} is not on PATH (nor installed by pyenv)")


def build_wheel(folder: Path) -> Path:
    """swapvec's wheel, built once from this checkout: the cells install it, as pip installs a release, and cells
    running at once never build in the same source tree."""
    _run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "wheel", "--no-deps", "-w", str(folder),
          str(REPO)])  # fmt: skip
    (wheel,) = folder.glob("swapvec-*.whl")
    return wheel


def make_env(cell: Cell, root: Path, wheel: Path) -> tuple[Path, dict[str, str]]:
    """The cell's venv with the platform's packages, then swapvec; returns its bin folder and swapvec's report."""
    venv = CACHE / cell.name
    shutil.rmtree(venv, ignore_errors=True)
    _run([_interpreter(cell.python), "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    _run([*pip, "install", "--upgrade", "pip"])
    if cell.constraints:
        lines = (REPO / "constraints" / cell.constraints).read_text().splitlines()
        replaced = {_normal(p.split("==")[0]) for p in cell.stand_ins}
        wanted = [f"{n}=={v}" for n, v in _pinned(lines).items() if n not in replaced]
        _run([*pip, "install", *wanted, *cell.stand_ins])
    spark = f"pyspark[connect]=={cell.pyspark}" if cell.connect else f"pyspark=={cell.pyspark}"
    _run([*pip, "install", spark, f"delta-spark=={cell.delta}"])
    # Every package the platform has before swapvec comes: installing swapvec must change none of them.
    before = _freeze(venv)
    report = root / f"{cell.name}-install.json"
    _run([*pip, "install", "--report", str(report), f"swapvec{cell.extras} @ {wheel.as_uri()}", *cell.lowest])
    installed = {
        _normal(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    changed = {n: f"{before[n]} -> {v}" for n, v in installed.items() if n in before}
    if changed:
        raise Failed(f"installing swapvec changed the platform's packages: {changed}")
    versions = _freeze(venv)
    return venv / "bin", {n: versions.get(n, "-") for n in ("numpy", "pandas", "pyarrow", "gensim", "faiss-cpu")}


def _freeze(venv: Path) -> dict[str, str]:
    out = _run([str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "list", "--format=json"])
    return {_normal(p["name"]): p["version"] for p in json.loads(out)}


def _env(bin_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_", "VIRTUAL_ENV"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        SPARK_LOCAL_IP=LOOPBACK,
        SPARK_SUBMIT_OPTS=JVM_OPTS,
        **extra,
    )
    return env


def _cases(root: Path) -> dict[str, list[str]]:
    (root / "corpus.txt").write_text("\n".join(SEED_LINES * 50) + "\n")
    (root / "groups.txt").write_text(SEED_GROUPS)
    return {
        "seed": ["input.path=corpus.txt", "augment.groups_path=groups.txt", "train.min_count=1"],
        "lee": ["input.path=sample:lee", f"augment.groups_path={REPO / 'conf' / 'groups.txt'}"],
    }


#: Every case into every format: what a classic session runs.
EVERY_RUN = (("seed", "delta"), ("seed", "parquet"), ("lee", "delta"), ("lee", "parquet"))
#: Through Spark Connect each case and each format once: what Connect changes (the session, its errors, the writes
#: through the server) is the same for both cases, and the classic runs have checked every pairing.
CONNECT_RUNS = (("seed", "delta"), ("lee", "parquet"))


def run_cases(
    bin_dir: Path, root: Path, env: dict[str, str], label: str, runs: tuple[tuple[str, str], ...] = EVERY_RUN
) -> dict[str, str]:
    """The seed's case and the Lee sample into the formats ``runs`` pairs them with; returns each run's seconds."""
    results = {}
    cases = _cases(root)
    for case, fmt in runs:
        settings = cases[case]
        out = root / f"{label}-{case}-{fmt}"
        command = [str(bin_dir / "swapvec"), "run"]
        command += [a for s in [*settings, f"output.path={out}", f"output.format={fmt}"] for a in ("--set", s)]
        started = time.monotonic()
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=900)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise Failed(f"{label} {case} {fmt}: exit {done.returncode}\n{done.stderr[-4000:]}")
        _check(case, fmt, out, done.stdout)
        results[f"{label} {case} {fmt}"] = f"{seconds:.0f} s"
    return results


def run_failure(bin_dir: Path, root: Path, env: dict[str, str], label: str) -> dict[str, str]:
    """A run that fails once Spark is up (its input is not Parquet) exits 2 in one line and keeps its ``failed`` row
    in ``runs``, in both formats: on Spark 3.5 the row was lost to an error API that version lacks."""
    (root / "garbage.parquet").write_bytes(bytes(range(256)) * 4)
    results = {}
    for fmt in ("delta", "parquet"):
        out = root / f"{label}-failed-{fmt}"
        command = [str(bin_dir / "swapvec"), "run", "--set", "input.path=garbage.parquet"]
        command += ["--set", f"output.path={out}", "--set", f"output.format={fmt}"]
        started = time.monotonic()
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=900)
        errors = [line for line in done.stderr.splitlines() if line.startswith("swapvec: ")]
        if done.returncode != 2 or len(errors) != 1 or "Traceback" in done.stderr:
            raise Failed(f"{label} failed run {fmt}: exit {done.returncode}, not 2 in one line\n{done.stderr[-4000:]}")
        statuses = _read(out, "runs", fmt).column("status").to_pylist()
        if statuses != ["failed"]:
            raise Failed(f"{label} failed run {fmt}: runs holds {statuses}, not one failed row")
        results[f"{label} failed {fmt}"] = f"{time.monotonic() - started:.0f} s"
    return results


def _read(out: Path, table: str, fmt: str):
    """A table as an independent reader sees it: delta-rs for Delta, pyarrow for Parquet."""
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    return DeltaTable(str(out / table)).to_pyarrow_table() if fmt == "delta" else pq.read_table(out / table)


def _check(case: str, fmt: str, out: Path, printed: str) -> None:
    import pyarrow.compute as pc

    vectors, sims, runs = (_read(out, table, fmt) for table in ("vectors", "similarities", "runs"))
    if runs.column("status").to_pylist() != ["succeeded"]:
        raise Failed(f"{case} {fmt}: runs holds {runs.column('status').to_pylist()}")
    if not str(vectors.schema.field("vector").type.value_type) == "float":
        raise Failed(f"{case} {fmt}: vectors are {vectors.schema.field('vector').type}, not float32")
    if case == "seed":
        first = sims.filter(pc.equal(sims["rank"], 1))
        nearest = dict(zip(first["word"].to_pylist(), first["neighbor"].to_pylist(), strict=True))
        wrong = {m: nearest.get(m) for m in ("movies", "films", "cinema") if nearest.get(m) != "entertainment"}
        if wrong:
            raise Failed(f"seed {fmt}: nearest words {wrong}, not entertainment\n{printed}")
    else:
        for line in ("members with all group-mates in top 10", "hub members whose nearest word is the hub"):
            if not re.search(re.escape(line) + r"\s+1\.000", printed):
                raise Failed(f"lee {fmt}: '{line}' is not 1.000\n{printed}")
        if vectors.num_rows < 1000:
            raise Failed(f"lee {fmt}: {vectors.num_rows} words")


@contextlib.contextmanager
def connect_server(cell: Cell, bin_dir: Path, root: Path):
    """A Spark Connect server of the cell's Spark on loopback, with Delta's jars and SQL extension (no Delta Connect
    plugin); yields its ``sc://`` URL."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
    packages = [delta_coordinates(cell.pyspark, cell.delta)]
    if cell.pyspark.startswith("3."):  # Spark 3.5 ships its Connect server apart
        packages.append(f"org.apache.spark:spark-connect_{cell.scala}:{cell.pyspark}")
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.connect.grpc.binding.address": LOOPBACK,
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.shuffle.partitions": "2",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.ui.enabled": "false",
    }
    command = [str(bin_dir / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer"]
    command += ["--master", "local[2,3]", "--driver-memory", "2g", "--packages", ",".join(packages)]
    command += [a for k, v in conf.items() for a in ("--conf", f"{k}={v}")]
    log = open(root / "connect-server.log", "wb")  # noqa: SIM115 - the server writes to it until it is stopped
    server = subprocess.Popen(
        [*command, "spark-internal"],
        env=_env(bin_dir, PYSPARK_PYTHON=str(bin_dir / "python")),
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            with socket.socket() as probe:
                if probe.connect_ex((LOOPBACK, port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise Failed(f"the Connect server did not start:\n{(root / 'connect-server.log').read_text()[-3000:]}")
            time.sleep(1)
        yield f"sc://{LOOPBACK}:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=60)
        log.close()


def run_cell(cell: Cell, wheel: Path) -> dict[str, str]:
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix=f"swapvec-{cell.name}-"))
    try:
        bin_dir, versions = make_env(cell, root, wheel)
        row = {"cell": cell.name, "platform": cell.platform, "install": f"{time.monotonic() - started:.0f} s"}
        row |= versions
        row |= run_cases(bin_dir, root, _env(bin_dir), "classic")
        row |= run_failure(bin_dir, root, _env(bin_dir), "classic")
        if cell.connect:
            with connect_server(cell, bin_dir, root) as remote:
                row |= run_cases(bin_dir, root, _env(bin_dir, SPARK_REMOTE=remote), "connect", CONNECT_RUNS)
        row["seconds"] = f"{time.monotonic() - started:.0f}"
        return row
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cell", action="append", help="run only this cell (repeatable)", choices=[c.name for c in CELLS]
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="cells run at once (2 on 2 cores: a run waits on its JVM's start)"
    )
    args = parser.parse_args()
    # The Connect cells, the longest, first: with two at once the two short ones then end together.
    cells = sorted((c for c in CELLS if not args.cell or c.name in args.cell), key=lambda c: not c.connect)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="swapvec-wheel-") as folder:
        wheel = build_wheel(Path(folder))

        def one(cell: Cell) -> bool:
            about = f"{cell.platform}: Python {cell.python}, Spark {cell.pyspark}, Delta {cell.delta}"
            print(f"matrix: {cell.name} ({about}) started", flush=True)
            try:
                row = run_cell(cell, wheel)
            except (Failed, subprocess.TimeoutExpired) as exc:
                print(f"matrix: {cell.name} FAILED: {exc}", flush=True)
                return False
            print("matrix: " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            return True

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            passed = sum(pool.map(one, cells))
    failed = len(cells) - passed
    print(f"matrix: {passed} passed, {failed} failed in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
