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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from swapvec.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    BadInput,
    SwapvecError,
    java_cause,
    note_stop,
    one_line,
    stop_point,
)

if TYPE_CHECKING:
    from swapvec.config import Config

DEFAULT_CONFIG = "conf/local.yaml"

#: Java exceptions that say the configuration names something that cannot work (a path's scheme with no file system
#: on this cluster): retrying the same run fails the same way.
_BAD_INPUT_CAUSES = {"org.apache.hadoop.fs.UnsupportedFileSystemException"}

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
        self.exit(EXIT_BAD_INPUT, f"swapvec: error: {message} (see swapvec --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help=f"YAML config (default: {DEFAULT_CONFIG} when it exists)")
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
    text = "write one run's vectors to a file that gensim, fastText and spaCy read"
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
    package.add_argument("--config", help=f"config for the printed line (default: {DEFAULT_CONFIG} when it exists)")
    package.add_argument("--python-prefix", help="where Python lives on the cluster's nodes, if not where it is here")
    package.add_argument("--force", action="store_true", help="rebuild the environment even if it is current")


def config_path(given: str | None) -> str | None:
    """The config file to read: the one given, else conf/local.yaml if present, else built-in defaults only."""
    if given is not None:
        return given
    return DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None


def main(argv: Sequence[str] | None = None, command: str | None = None) -> int:
    """Parse arguments, run one command, return the exit code. ``command`` fixes the command (the stage jobs)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if command is not None:
        args_list = [command, *args_list]
    args = build_parser().parse_args(args_list or ["run"])
    if args.command is None:
        args = build_parser().parse_args(["run", *args_list])
    debug = os.environ.get("SWAPVEC_DEBUG") == "1"
    stopped = _Stop()
    try:
        if args.command == "package":
            return _package(args)
        from swapvec.config import load_config
        from swapvec.log import setup_logging

        cfg = load_config(config_path(args.config), args.overrides)
        setup_logging(cfg.log.format, cfg.log.level)
        if args.command == "export":
            return _export(args, cfg)
        from swapvec.pipeline import execute, preflight
        from swapvec.session import get_spark

        preflight(cfg, args.command)  # bad input is refused before a JVM starts

        stopped.listen()  # a stop while the JVM starts is quiet too
        spark = get_spark(cfg.spark)
        stop_point()  # raised inside a finaliser (py4j's, many at start), KeyboardInterrupt is only printed
        stopped.listen()  # again, in front of the handler the session's start installed (it cancels the jobs)
        result = execute(spark, cfg, args.command)
    except BadInput as exc:
        if debug:
            traceback.print_exc()
        print(f"swapvec: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return stopped.report()
    except Exception as exc:
        if debug:
            traceback.print_exc()
        if stopped.signal:  # the cancelled job's error, raised where the KeyboardInterrupt was expected
            return stopped.report()
        cause = java_cause(exc)
        if cause and cause[0] in _BAD_INPUT_CAUSES:
            print(f"swapvec: error: {one_line(exc, 500)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"swapvec: failed: {type(exc).__name__}: {one_line(exc, 500)}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, SwapvecError) else EXIT_FAILED
    if result.summary:
        print(result.summary)
    kept = result.details.get("tables_kept")
    # A run key older than the tables' keeps them: the summary above is then theirs, which the user must know.
    also = f"; kept, as a later run key wrote them: {', '.join(kept)}" if kept else ""
    print(f"swapvec: {args.command} done, run_id {result.run_id}, tables under {cfg.output.path}{also}")
    logging.shutdown()
    return EXIT_OK


class _Stop:
    """Ctrl-C (SIGINT) and a scheduler's SIGTERM, each chained before the handler already there (pyspark's, once a
    session is up: it cancels the jobs and raises KeyboardInterrupt). The run then stops as interrupted: the
    ``failed`` row is written to ``runs``, one line is printed, and the exit code is 128 + the signal (130, 143),
    also when a thread blocked on a job's result raises the job's cancellation instead of KeyboardInterrupt (which
    would read as a failure worth retrying, exit 1). Without a handler, SIGTERM ended the process with no row and no
    message."""

    def __init__(self) -> None:
        self.signal: int | None = None
        note_stop(None)

    def listen(self) -> None:
        """Put the handler in front of SIGINT's current one, for SIGINT and SIGTERM (pyspark cancels the jobs on
        SIGINT alone); nothing if it is in front already."""
        if threading.current_thread() is not threading.main_thread():
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

    def report(self) -> int:
        note_stop(None)  # stopped: what runs next in this process (a notebook's call, a test) is not
        name = "terminated" if self.signal == signal.SIGTERM else "interrupted"
        print(f"swapvec: {name}", file=sys.stderr)
        return 128 + (self.signal or signal.SIGINT)


def _export(args: argparse.Namespace, cfg: Config) -> int:
    from swapvec.export import export_vectors

    def spark():  # only for tables that cannot be read without it (a URI; Delta without the deltalake package)
        from swapvec.session import get_spark

        return get_spark(cfg.spark)

    # output.format as set; when it was left to its default, the format of the tables found there.
    fmt = cfg.output.format if "format" in cfg.output.model_fields_set else None
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
    print(format_command(submit_command(built, args.master, config_path(args.config))))
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
