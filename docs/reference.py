"""Writes docs/configuration.md from the config's own declarations (``swapvec.config``) and the CLI's help, so that
the reference cannot drift from the code: ``python docs/reference.py`` rewrites it; a test fails when it differs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from swapvec.cli import build_parser
from swapvec.config import DEFAULT_TOKEN_PATTERN, Config
from swapvec.settings import keys

TARGET = Path(__file__).resolve().parent / "configuration.md"

HEAD = """# Configuration reference

Generated from `lib/swapvec/config.py` by `python docs/reference.py`; do not edit by hand.

A run's settings come from a YAML file given with `--config PATH` (only when given; `make run` gives the project's
own `conf/local.yaml`) and from `--set dotted.key=value` overrides, applied in order after the file. A value is read
as YAML: `5`, `true`, `[a, b]`, `null`. Unknown keys and invalid values are refused before any work, with a one-line
message naming the key (exit 2). Relative paths are relative to the working directory. From Python, `swapvec.run`
takes the same keys as a nested dict.
"""

ADVANCED = """## Advanced

Tuning that a run rarely needs: the defaults are measured choices (bench/RESULTS.md).
"""


def _type(kind: Any) -> str:
    origin = get_origin(kind)
    if origin is Literal:
        return " \\| ".join(f"`{v}`" for v in get_args(kind))
    args = [a for a in get_args(kind) if a is not type(None)]
    if origin is not None and args and origin not in (list, dict):
        return " or ".join(_type(a) for a in args)
    if origin is list:
        return "list of " + _type(get_args(kind)[0])
    if origin is dict:
        return "mapping"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(kind, str(kind))


def _default(field: Any) -> str:
    import dataclasses

    value = field.default_factory() if field.default is dataclasses.MISSING else field.default
    if value == DEFAULT_TOKEN_PATTERN:
        return "letters, marks, digits, inner `'`"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value in ([], {}):
        return "none"
    return f"`{value}`"


def _range(meta: Any) -> str:
    parts = []
    for bound, sign in (("ge", ">="), ("gt", ">"), ("le", "<=")):
        if meta.get(bound) is not None:
            parts.append(f"{sign} {meta[bound]:g}" if isinstance(meta[bound], float) else f"{sign} {meta[bound]}")
    return ", ".join(parts)


def _table(rows: list[tuple[str, Any, Any]]) -> list[str]:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field, kind in rows:
        valid = _range(field.metadata)
        meaning = field.metadata.get("doc", "") + (f" ({valid})" if valid else "")
        lines.append(f"| `{name}` | {_type(kind)} | {_default(field)} | {meaning} |")
    return lines


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    lines = ["## Commands", "", "| command | what it does |", "|---|---|"]
    for name, child in sub.choices.items():
        lines.append(f"| `swapvec {name}` | {child.description} |")
    return lines


def render() -> str:
    everything = keys(Config)
    sections: dict[str, list] = {}
    for name, field, kind in everything:
        if not field.metadata.get("advanced"):
            sections.setdefault(name.split(".")[0], []).append((name, field, kind))
    out = [HEAD]
    for section, rows in sections.items():
        out += [f"## `{section}`", "", *_table(rows), ""]
    out += [ADVANCED, *_table([r for r in everything if r[1].metadata.get("advanced")]), ""]
    out += [*_commands(), ""]
    return "\n".join(out)


if __name__ == "__main__":
    text = render()
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if TARGET.read_text() == text else 1)
    TARGET.write_text(text)
