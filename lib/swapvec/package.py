"""``swapvec package``: what spark-submit needs to run swapvec's jobs on a cluster whose executors lack its libraries.

It builds, in one folder (``dist/`` by default):

* ``swapvec-env.tar.gz``, for ``--archives swapvec-env.tar.gz#environment``: a virtual environment packed with
  venv-pack, holding swapvec's runtime dependencies (gensim, numpy, pyarrow, pandas, faiss-cpu when it is installed,
  ...) at exactly the versions installed here, so that executors compute what this driver would. pyspark and
  delta-spark are left out: executors import the cluster's own pyspark (``$SPARK_HOME/python/lib``) and Delta is
  JVM code (``--packages``); so is matplotlib, which only the driver's report uses. The environment is rebuilt only
  when those versions change (``swapvec-env.txt`` records them); pip's cache makes a rebuild a matter of a minute.
* ``swapvec-<version>.zip``, for ``--py-files``: the swapvec package this driver imports, rebuilt every time (it
  takes milliseconds), so a code change needs no new environment.

venv-pack links the environment's ``bin/python`` to this machine's interpreter instead of copying it: every node
needs the same Python minor version at that path, or at the path given as ``python_prefix``. The driver runs in
client mode with this interpreter (``spark.pyspark.driver.python``).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import swapvec
from swapvec.compat import delta_coordinates
from swapvec.errors import BadInput, SwapvecError, one_line

ENV_ARCHIVE = "swapvec-env.tar.gz"
ENV_SPEC = "swapvec-env.txt"

#: Declared dependencies the executors do not need: the cluster brings Spark and Delta; only the driver draws plots.
DRIVER_ONLY = frozenset({"pyspark", "delta-spark", "matplotlib"})

#: Never pinned into the environment: swapvec itself ships as a zip, and these are tools of the build, not the job.
_NOT_PINNED = frozenset({"swapvec", "pip", "setuptools", "wheel", "venv-pack"})

#: gzip level of the environment archive: 1 packs about twice as fast as venv-pack's 4 for a few percent more bytes.
COMPRESS_LEVEL = 1

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


@dataclass
class Package:
    """What ``build`` made: the two files to ship, and what the environment cost."""

    environment: Path
    code: Path
    environment_reused: bool
    seconds: float

    @property
    def environment_mb(self) -> float:
        return self.environment.stat().st_size / 1e6


def _name(requirement: str) -> str:
    return _canonical(re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group(0))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


#: Extras whose packages the executors run when the driver has them installed: faiss computes the similarities.
EXECUTOR_EXTRAS = frozenset({"faiss"})


def runtime_requirements() -> list[str]:
    """swapvec's declared dependencies that executors need: no extras but :data:`EXECUTOR_EXTRAS` the driver has,
    nothing in ``DRIVER_ONLY``."""
    needed = []
    for requirement in importlib.metadata.requires("swapvec") or []:
        spec, _, marker = requirement.partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", marker)
        if extra and not (extra.group(1) in EXECUTOR_EXTRAS and _installed(_name(spec))):
            continue
        if _name(spec) not in DRIVER_ONLY:
            needed.append(spec.strip() if extra else requirement)
    return sorted(needed)


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def pinned_versions() -> list[str]:
    """``name==version`` of every distribution installed here: the environment gets these versions and no others."""
    pins = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and _canonical(name) not in _NOT_PINNED:
            pins[_canonical(name)] = f"{_canonical(name)}=={dist.version}"
    return sorted(pins.values())


def environment_spec(python_prefix: str | None) -> str:
    """What determines the environment; an archive built from the same spec is reused."""
    lines = [
        f"# python {sys.version_info.major}.{sys.version_info.minor} {sys.platform}, python_prefix {python_prefix}",
        *runtime_requirements(),
        "# constraints",
        *pinned_versions(),
    ]
    return "\n".join(lines) + "\n"


def _writable_folder(dist: Path) -> Path:
    try:
        dist.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=dist, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise BadInput(f"cannot write to the dist folder {dist}: {exc.strerror or exc}") from None
    return dist


def _pip_install(python: Path, requirements: Path, constraints: Path) -> None:
    """Install into the environment of ``python`` with this interpreter's pip (the environment needs no pip)."""
    command = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", "install"]
    # No bytecode: executors compile what they import; pip runs three times faster and the archive is 15% smaller.
    command += ["--quiet", "--no-compile", "-r", str(requirements), "-c", str(constraints)]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise SwapvecError(f"pip could not install the executors' dependencies: {last}")


def build_environment(dist: Path, python_prefix: str | None = None) -> Path:
    """Build ``dist/swapvec-env.tar.gz`` in a fresh virtual environment, replacing any older one atomically."""
    try:
        import venv_pack
    except ImportError:
        raise BadInput("swapvec package needs venv-pack in this environment: pip install venv-pack") from None
    with tempfile.TemporaryDirectory(dir=dist, prefix=".build-") as work:
        work_dir = Path(work)
        (work_dir / "requirements.txt").write_text("\n".join(runtime_requirements()) + "\n")
        (work_dir / "constraints.txt").write_text("\n".join(pinned_versions()) + "\n")
        env = work_dir / "environment"
        venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
        _pip_install(env / "bin" / "python", work_dir / "requirements.txt", work_dir / "constraints.txt")
        archive = work_dir / ENV_ARCHIVE
        try:
            venv_pack.pack(
                prefix=str(env),
                output=str(archive),
                format="tar.gz",
                python_prefix=python_prefix,
                compress_level=COMPRESS_LEVEL,
            )
        except venv_pack.VenvPackException as exc:
            raise SwapvecError(f"venv-pack could not pack the environment: {one_line(exc)}") from None
        archive.chmod(0o644)  # venv-pack leaves it private to its owner
        return Path(shutil.move(archive, dist / ENV_ARCHIVE))


def build_code(dist: Path) -> Path:
    """Zip the swapvec package this interpreter imports (``--py-files`` needs a .zip), without bytecode caches."""
    source = Path(swapvec.__file__).parent
    target = dist / f"swapvec-{swapvec.__version__}.zip"
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(source.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, Path("swapvec") / file.relative_to(source))
    return partial.replace(target)


#: What spark-submit carries in ``--archives PATH#environment`` and ``--py-files PATH``: it splits the list at ',',
#: and reads each entry as a URI (java.net.URI), falling back to a file name only when that fails. So a path holds
#: only ASCII characters a URI's path takes as they are: no space, '[ ]', '%', '?', '#' or ','. Others made the
#: whole entry, '#environment' included, one file name that does not exist (a space, '[1]'), or another file (a
#: '%20' decoded, a '?' cut off).
_CARRIED = re.compile(r"[A-Za-z0-9._~!$&'()*+;=:@/-]+")


def check_dist(dist: str) -> None:
    """Refuse, before anything is built, a dist folder whose files spark-submit could not be given.

    Raises
    ------
    BadInput
        The folder's name holds a character spark-submit reads otherwise (:data:`_CARRIED`), or starts with a name
        and ':' (read as a URI scheme).
    """
    if not dist.strip():
        raise BadInput(f"--dist {dist!r}: an empty folder name")
    odd = sorted({c for c in dist if not _CARRIED.fullmatch(c)})
    if odd or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", dist):
        shown = " ".join(repr(c) for c in odd) if odd else "a name and ':' first, read as a URI scheme"
        raise BadInput(
            f"--dist {dist!r}: spark-submit cannot carry files from a folder named with {shown}; "
            "use letters, digits and . _ - / only"
        )


def build(dist: str | os.PathLike[str] = "dist", python_prefix: str | None = None, force: bool = False) -> Package:
    """Build what spark-submit ships to the executors.

    Parameters
    ----------
    dist
        Folder to build into; created if missing.
    python_prefix
        Where Python lives on the cluster's nodes (an absolute prefix such as ``/usr``), when it is not where it is
        here.
    force
        Rebuild the environment even when the one in ``dist`` was built from the same versions.

    Returns
    -------
    Package

    Raises
    ------
    BadInput
        The folder cannot be written or spark-submit could not carry files from it (:func:`check_dist`),
        ``python_prefix`` is not absolute, or venv-pack is missing.
    SwapvecError
        pip or venv-pack failed (a registry out of reach, say); worth retrying.
    """
    if python_prefix is not None and not os.path.isabs(python_prefix):
        raise BadInput(f"--python-prefix must be an absolute path, not {python_prefix!r}")
    check_dist(str(dist))
    folder = _writable_folder(Path(dist))
    started = time.monotonic()
    spec = environment_spec(python_prefix)
    spec_file = folder / ENV_SPEC
    reused = not force and (folder / ENV_ARCHIVE).is_file() and spec_file.is_file() and spec_file.read_text() == spec
    if not reused:
        spec_file.unlink(missing_ok=True)  # an interrupted build must not look current
        build_environment(folder, python_prefix)
        spec_file.write_text(spec)
    code = build_code(folder)
    return Package(folder / ENV_ARCHIVE, code, reused, time.monotonic() - started)


def delta_package() -> str:
    """Maven coordinates of the Delta jars matching the installed delta-spark and pyspark."""
    import pyspark

    return delta_coordinates(pyspark.__version__, importlib.metadata.version("delta-spark"))


def job_path() -> str:
    """``jobs/run.py`` of the source tree swapvec is imported from, relative to the working directory if inside it."""
    job = Path(swapvec.__file__).resolve().parents[2] / "jobs" / "run.py"
    if not job.is_file():
        return "jobs/run.py"
    try:
        return str(job.relative_to(Path.cwd()))
    except ValueError:
        return str(job)


def submit_command(package: Package, master: str, config: str | None) -> list[list[str]]:
    """The spark-submit command that runs the pipeline on ``master`` with what ``build`` made, one option a group.

    Joined (``[word for group in groups for word in group]``) the groups are the argument list.
    """
    groups = [
        ["spark-submit", "--master", master],
        ["--archives", f"{package.environment}#environment"],
        ["--py-files", str(package.code)],
        ["--conf", "spark.pyspark.python=./environment/bin/python"],
        ["--conf", f"spark.pyspark.driver.python={sys.executable}"],
        ["--packages", delta_package()],
    ]
    groups += [["--conf", f"{key}={value}"] for key, value in DELTA_CONF.items()]
    groups.append([job_path(), *(["--config", config] if config else [])])
    return groups


def format_command(groups: list[list[str]]) -> str:
    """One group a line, ready to paste into a shell."""
    return " \\\n  ".join(shlex.join(group) for group in groups)
