"""A real standalone Spark cluster on loopback for tests: a master and workers, stopped by process id.

Started from the installed pyspark's ``spark-class`` (its ``SPARK_HOME`` is the pyspark package), each process in its
own process group, so that killing a worker's group also kills the executor JVM it launched; the executors' Python
daemons make their own groups and are found by their working directory under the cluster's folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.jvm import SPARK_HOME, short_jvm_opts

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def spark_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would make Spark processes use the test's Python or session."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_"))}
    env.update(SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP=LOOPBACK, **extra)
    return env


@dataclass
class Cluster:
    """A master and its workers; ``stop`` ends every process it started (also the executors' Python workers)."""

    root: Path
    master_url: str = ""
    webui: str = ""
    master: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    def _start(self, name: str, *args: str) -> subprocess.Popen:
        with open(self.root / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
            return subprocess.Popen(
                [str(SPARK_HOME / "bin" / "spark-class"), *args],
                env=spark_env(
                    SPARK_LOG_DIR=str(self.root),
                    SPARK_WORKER_DIR=str(self.root / "work"),
                    SPARK_DAEMON_JAVA_OPTS=short_jvm_opts(),
                ),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
            )

    def start(self, workers: int = 2, cores: int = 1, memory: str = "1g", timeout: float = 90) -> Cluster:
        port, webui = free_port(), free_port()
        self.master_url, self.webui = f"spark://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{webui}"
        master_class = "org.apache.spark.deploy.master.Master"
        self.master = self._start(
            "master", master_class, "--host", LOOPBACK, "--port", str(port), "--webui-port", str(webui)
        )
        self.wait_until(lambda: self.state() is not None, timeout, "the master to answer")
        for i in range(workers):
            self.add_worker(i, cores, memory)
        self.wait_until(lambda: self.alive_workers() == workers, timeout, f"{workers} workers to register")
        return self

    def add_worker(self, index: int, cores: int = 1, memory: str = "1g") -> None:
        work = self.root / "work" / f"worker-{index}"
        work.mkdir(parents=True, exist_ok=True)
        args = ["--host", LOOPBACK, "--port", str(free_port()), "--webui-port", str(free_port())]
        args += ["--cores", str(cores), "--memory", memory, "--work-dir", str(work), self.master_url]
        self.workers.append(self._start(f"worker-{index}", "org.apache.spark.deploy.worker.Worker", *args))

    def state(self) -> dict | None:
        """The master's status page as JSON; None while it does not answer."""
        try:
            with urllib.request.urlopen(f"{self.webui}/json", timeout=5) as response:
                return json.load(response)
        except OSError:
            return None

    def alive_workers(self) -> int:
        state = self.state() or {}
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def wait_until(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            dead = [p for p in [self.master, *self.workers] if p is not None and p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(f"--- {f.name}\n{f.read_text()[-2000:]}" for f in sorted(self.root.glob("*.log")))
                raise RuntimeError(f"timed out or a process died waiting for {what}\n{logs}")
            time.sleep(0.5)

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker ``index`` and its executor (its process group), as a lost machine would go."""
        worker = self.workers[index]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)

    def leftover_pids(self) -> list[int]:
        """Processes working under the cluster's folder (executors' Python daemons and workers, say)."""
        pids = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and int(proc.name) != os.getpid():
                try:
                    if Path(os.readlink(proc / "cwd")).is_relative_to(self.root):
                        pids.append(int(proc.name))
                except OSError:  # gone meanwhile, or not ours to read
                    continue
        return pids

    def stop(self) -> None:
        """Kill the workers' and the master's process groups, then anything still working under the folder."""
        for proc in [*self.workers, self.master]:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while (pids := self.leftover_pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
