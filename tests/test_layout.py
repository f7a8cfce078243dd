"""The package's layout rules: no import circle; classic-only and version-specific Spark APIs behind one seam."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lib" / "swapvec"


def _modules() -> dict[str, Path]:
    modules = {}
    for file in sorted(PACKAGE.rglob("*.py")):
        parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return modules


def _imports(name: str, file: Path, known: set[str]) -> set[str]:
    """The swapvec modules ``file`` imports, at the top or inside functions; ``TYPE_CHECKING`` imports excluded."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m in known and m != name}


def test_no_module_imports_itself_through_others():
    modules = _modules()
    graph = {name: _imports(name, file, set(modules)) for name, file in modules.items()}
    # A package imports its own submodules by design; that edge is not a circle in the layering.
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    circles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                circles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in done:
                visit(nxt, path + [nxt])
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


#: Classic-only APIs (missing on Spark Connect), and APIs that Spark 4.0 added or renamed (missing on 3.5): each is
#: reached through swapvec.compat, which has a fallback.
SEAM_ONLY = [
    r"\bsparkContext\b",
    r"\._jvm\b",
    r"\._jsc\b",
    r"\.toArrow\(",
    r"\.applyInArrow\(",
    r"\.localCheckpoint\(",
    r"\bgetCondition\b",
    r"\bgetErrorClass\b",
    r"\bmap_contains_key\b",
    r"createDataFrame\(\s*pa\.",
]


@pytest.mark.parametrize("api", SEAM_ONLY)
def test_version_and_platform_specific_spark_apis_appear_in_compat_only(api):
    users = [
        str(file.relative_to(PACKAGE))
        for file in PACKAGE.rglob("*.py")
        if re.search(api, file.read_text(encoding="utf-8")) and file.name != "compat.py"
    ]
    assert users == [], f"{api} outside swapvec/compat.py"
