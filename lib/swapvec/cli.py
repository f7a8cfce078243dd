"""The ``swapvec`` console script: ``swapvec COMMAND [--config PATH] [--set dotted.key=value ...]``.

Exit codes: 0 done; 2 bad input or config (retrying will not help); 1 any other failure (worth retrying);
130 interrupted (Ctrl-C), 143 terminated (SIGTERM, as schedulers stop a job). Errors are one line on stderr;
``SWAPVEC_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from swapvec.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    BadInput,
    SwapvecError,
    note_stop,
    one_line,
    permanent_failure,
)
from swapvec.log import mask

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from swapvec.config import Config
    from swapvec.runs import RunRecord
    from swapvec.session import LocalDriver

_HELP = {
    "run": "all stages: tokenise, augment, train, similarities, evaluate",
    "tokenize": "read the corpus and write the sentences table",
    "augment": "read sentences, add the groups' swapped copies, write the augmented table",
    "train": "read the augmented table and write the vectors table",
    "similarity": "read vectors and write the top-k similarities table",
    "evaluate": "read vectors, score benchmarks and group closeness, record them in runs",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, as for any bad input
        self.exit(EXIT_BAD_INPUT, f"swapvec: error: {mask(message)} (see swapvec --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="YAML config (default: none, the built-in defaults)")
    common.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a key, repeatable"
    )
    parser = _Parser(prog="swapvec", description="Swap-augmented word embeddings on Spark.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, text in _HELP.items():
        sub.add_parser(name, parents=[common], help=text, description=text)
    _add_export_parser(sub, common)
    _add_package_parser(sub)
    return parser


#: ``swapvec export --format``'s help; ``export.FORMATS`` decides (not imported here: numpy and pyarrow would load
#: at every command's start).
_EXPORT_FORMATS = "word2vec (the binary format), word2vec-text or keyedvectors (gensim's own)"


def _add_export_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    text = "write one run's vectors to a file gensim loads (word2vec binary or text, or KeyedVectors)"
    export = sub.add_parser("export", parents=[common], help=text, description=text)
    export.add_argument("--to", required=True, metavar="PATH", help="the file to write (in a folder that exists)")
    export.add_argument("--format", required=True, metavar="FORMAT", help=_EXPORT_FORMATS)
    export.add_argument(
        "--run-id", metavar="ID", help="the run whose vectors to write (default: the newest that wrote vectors)"
    )
    export.add_argument("--force", action="store_true", help="replace a file already at PATH")


def _add_package_parser(sub: argparse._SubParsersAction) -> None:
    text = "build what spark-submit ships to a cluster's executors, and print the spark-submit line"
    package = sub.add_parser("package", help=text, description=text)
    package.add_argument("--dist", default="dist", help="folder to build into (default: dist)")
    package.add_argument("--master", default="spark://HOST:7077", help="master URL for the printed line")
    package.add_argument("--config", help="config for the printed line (default: none)")
    package.add_argument("--python-prefix", help="where Python lives on the cluster's nodes, if not where it is here")
    package.add_argument("--force", action="store_true", help="rebuild the environment even if it is current")


def main(argv: Sequence[str] | None = None, command: str | None = None) -> int:
    """Parse arguments, run one command, return the exit code. ``command`` fixes the command (the stage jobs)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if command is not None:
        args_list = [command, *args_list]
    args = build_parser().parse_args(args_list or ["run"])
    if args.command is None:
        args = build_parser().parse_args(["run", *args_list])
    debug = os.environ.get("SWAPVEC_DEBUG") == "1"
    stopped, driver = _Stop(), None
    try:
        if args.command == "package":
            return _package(args)
        from swapvec.config import load_config
        from swapvec.log import setup_logging

        cfg = load_config(args.config, args.overrides)
        setup_logging(cfg.log.format, cfg.log.level)

        def start(uris: list[str]) -> SparkSession:
            """The session, its JVM (when this command starts one) stopped at the command's end, whatever ends it."""
            nonlocal driver
            from swapvec.session import LocalDriver, get_spark

            driver = LocalDriver()
            stopped.listen(abort=driver.abort_start)  # a stop while the JVM starts is quiet too, and kills the start
            session = get_spark(cfg.spark, uris=uris)
            driver.started()
            stopped.listen()  # again, in front of the handler the session's start installed (it cancels the jobs)
            return session

        if args.command == "export":  # Spark only for tables that cannot be read without it
            return _export(args, cfg, lambda: start([cfg.output.path]))
        from swapvec.pipeline import execute, preflight

        preflight(cfg, args.command)  # bad input is refused before a JVM starts
        spark = start([p for p in (cfg.input.path, cfg.output.path, cfg.train.init_from) if p])
        # A stop noted during the start but lost in a finaliser is raised by execute, which records it in runs.
        result = execute(spark, cfg, args.command)
        _say_done(args.command, cfg.output.path, cfg.run.key, result)
        return EXIT_OK
    except BadInput as exc:
        if debug:
            traceback.print_exc()
        print(f"swapvec: error: {mask(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return stopped.report()
    except Exception as exc:
        if debug:
            traceback.print_exc()
        if stopped.signal:  # the cancelled job's error, raised where the KeyboardInterrupt was expected
            return stopped.report()
        permanent = permanent_failure(exc)  # the config names what cannot work here: a retry fails the same way
        if permanent:
            print(f"swapvec: error: {permanent}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"swapvec: failed: {type(exc).__name__}: {one_line(exc, 500)}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, SwapvecError) else EXIT_FAILED
    finally:
        stopped.end(driver)  # the JVM this command started never outlives it


def _say_done(command: str, output_path: str, run_key: str | None, result: RunRecord) -> None:
    if result.summary:
        print(result.summary)
    # Tables kept from an earlier run: the summary above is then partly theirs, which the user must know.
    by_run: dict[tuple[str, str], list[str]] = {}
    for table, wrote in result.details.get("kept_from", {}).items():
        by_run.setdefault((wrote["run_id"], wrote["run_key"]), []).append(table)
    kept = "".join(
        f"; kept {', '.join(tables)} as run {run_id} wrote them "
        + ("(this run key's earlier attempt, the same config)" if key == run_key else f"(the later run key {key})")
        for (run_id, key), tables in by_run.items()
    )
    print(f"swapvec: {command} done, run_id {result.run_id}, tables under {mask(output_path)}{kept}")
    logging.shutdown()


class _Stop:
    """Ctrl-C (SIGINT) and a scheduler's SIGTERM, each chained before the handler already there (pyspark's, once a
    session is up: it cancels the jobs and raises KeyboardInterrupt). The run then stops as interrupted: the
    ``failed`` row is written to ``runs``, one line is printed, and the exit code is 128 + the signal (130, 143),
    also when a thread blocked on a job's result raises the job's cancellation instead of KeyboardInterrupt (which
    would read as a failure worth retrying, exit 1). Without a handler, SIGTERM ended the process with no row and no
    message."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal: int | None = None
        #: Called by the handler before anything else while the session starts (:meth:`LocalDriver.abort_start`).
        self.abort: Callable[[], None] | None = None
        self._main = threading.current_thread() is threading.main_thread()
        self._found = {s: signal.getsignal(s) for s in self._SIGNALS} if self._main else {}
        self._hook = sys.unraisablehook
        note_stop(None)

    def listen(self, abort: Callable[[], None] | None = None) -> None:
        """Put the handler in front of SIGINT's current one, for SIGINT and SIGTERM (pyspark cancels the jobs on
        SIGINT alone); nothing if it is in front already. ``abort``: called first by the handler from now on."""
        if abort is not None:
            self.abort = abort
        if not self._main:
            return
        previous = signal.getsignal(signal.SIGINT)
        if getattr(previous, "swapvec_stop", None) is self:
            return

        def handler(got: int, frame: object) -> None:
            self.signal = self.signal or got
            note_stop(self.signal)  # raised again at the next stop point if this KeyboardInterrupt is lost
            # The run is stopping at the user's word: what the libraries log while their calls are cut short (py4j's
            # "KeyboardInterrupt while sending command" and its traceback) is noise, not news.
            logging.getLogger().setLevel(logging.CRITICAL + 1)
            if self.abort is not None:
                self.abort()
            if callable(previous):
                previous(signal.SIGINT, frame)
            raise KeyboardInterrupt

        handler.swapvec_stop = self  # type: ignore[attr-defined]
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
        if getattr(sys.unraisablehook, "swapvec_stop", None) is not self:
            sys.unraisablehook = self._unraisable(sys.unraisablehook)

    def _unraisable(self, previous):
        """The hook for exceptions Python cannot raise (in a finaliser): the stop's KeyboardInterrupt is not news."""

        def hook(unraisable) -> None:
            if not (self.signal and issubclass(unraisable.exc_type, KeyboardInterrupt)):
                previous(unraisable)

        hook.swapvec_stop = self  # type: ignore[attr-defined]
        return hook

    def end(self, driver: LocalDriver | None) -> None:
        """The command is over: a signal from now on is ignored (the exit code is set, and a KeyboardInterrupt would
        cut short the JVM's stop, the one thing left to do); the JVM the command started is stopped; the handlers
        found at the start are put back."""
        if self._main:
            for signum in self._SIGNALS:
                signal.signal(signum, signal.SIG_IGN)
        try:
            if driver is not None:
                driver.stop()
        finally:
            for signum, handler in self._found.items():
                signal.signal(signum, handler)
            sys.unraisablehook = self._hook

    def report(self) -> int:
        note_stop(None)  # stopped: what runs next in this process (a notebook's call, a test) is not
        name = "terminated" if self.signal == signal.SIGTERM else "interrupted"
        print(f"swapvec: {name}", file=sys.stderr)
        return 128 + (self.signal or signal.SIGINT)


def _export(args: argparse.Namespace, cfg: Config, spark: Callable[[], SparkSession]) -> int:
    from swapvec.export import export_vectors

    # output.format as set; when it was left to its default, the format of the tables found there.
    fmt = cfg.output.format if "format" in cfg.output.given else None
    done = export_vectors(
        cfg.output.path, args.to, args.format, args.run_id, output_format=fmt, force=args.force, spark=spark
    )
    print(
        f"swapvec: export done: {done.words:,} words x {done.vector_size} dimensions of run {done.run_id} to "
        f"{done.path} ({done.format}, {_size(done.size_bytes)}, {done.seconds:.1f} s)"
    )
    return EXIT_OK


def _size(size: int) -> str:
    return f"{size / 2**20:,.1f} MB" if size >= 2**20 else f"{size / 2**10:.1f} kB"


def _package(args: argparse.Namespace) -> int:
    from swapvec.package import build, format_command, submit_command

    built = build(args.dist, python_prefix=args.python_prefix, force=args.force)
    how = "reused (same versions)" if built.environment_reused else f"built in {built.seconds:.0f} s"
    print(f"swapvec: package done: {built.environment} ({built.environment_mb:.0f} MB, {how}) and {built.code}")
    print("Run the pipeline on the cluster with (output.path must be storage that the driver and executors share):")
    print(mask(format_command(submit_command(built, args.master, args.config))))
    return EXIT_OK


def console() -> None:
    """The ``swapvec`` console script. It exits with ``main``'s code rather than returning it: a Databricks wheel task
    calls the entry point and would take a returned 1 or 2 for success."""
    sys.exit(main())


def entry(command: str) -> None:
    """For the stage jobs: ``entry("train")`` runs ``swapvec train`` with this process's arguments."""
    sys.exit(main(sys.argv[1:], command=command))


if __name__ == "__main__":
    sys.exit(main())
