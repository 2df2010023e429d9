"""The serving package's own imports form no cycle (issue 13: ``app`` and ``admin`` imported
each other, the cycle hidden in function-level imports of ``respond``).

The graph is built from the source with :mod:`ast`, every import counted wherever it is
written (module level, inside functions, under ``TYPE_CHECKING``), so an import moved into a
function to dodge an ``ImportError`` still shows up as the cycle it is.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import aiarmor.serving

ROOT = Path(aiarmor.serving.__file__).parent
OLD_PATHS = {f"aiarmor.serving.{name}" for name in ("app", "auditlog", "auditstore", "detect")}


def _module(path: Path, root: Path, package: str) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((package, *parts))


def _imported(node: ast.AST, here: str, is_package: bool) -> list[str]:
    """The dotted names ``node`` may import (a module, or a name inside one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: resolved against this module's package
        anchor = here.split(".") if is_package else here.split(".")[:-1]
        anchor = anchor[: len(anchor) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return [f"{base}.{a.name}" for a in node.names] + [base]


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports, anywhere in its source."""
    paths = {_module(p, root, package): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        edges = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = _imported(node, name, is_package)
            if isinstance(node, ast.ImportFrom):  # `from a import b`: module a.b, else a
                found = [t for t in targets[:-1] if t in paths] or [targets[-1]]
            else:
                found = targets
            edges |= {t for t in found if t in paths and t != name}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def test_serving_imports_form_no_cycle() -> None:
    graph = import_graph(ROOT, "aiarmor.serving")
    assert cycle(graph) is None, " -> ".join(cycle(graph) or [])


def test_the_graph_sees_the_real_imports() -> None:
    # the check above is only as good as the graph: these edges must be in it
    graph = import_graph(ROOT, "aiarmor.serving")
    assert "aiarmor.serving.http.respond" in graph["aiarmor.serving.http.admin"]
    assert "aiarmor.serving.http.admin" in graph["aiarmor.serving.http.app"]
    assert "aiarmor.serving.wiring" in graph["aiarmor.serving.http.app"]  # inside a function
    assert "aiarmor.serving.audit.log" in graph["aiarmor.serving.auditlog"]  # `from . import`


def test_the_check_catches_the_old_app_admin_cycle(tmp_path: Path) -> None:
    # the shape before issue 13: app imports admin, admin imports app inside functions
    pkg = tmp_path / "gw"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "app.py").write_text(
        "from gw.gateway import Gateway\n\n"
        "def respond(outcome): ...\n\n"
        "def _add_admin_routes(app, gw):\n"
        "    from gw.admin import add_admin_routes\n"
        "    add_admin_routes(app, gw)\n"
    )
    (pkg / "admin.py").write_text(
        "from gw.gateway import Gateway\n\n"
        "def add_admin_routes(app, gw):\n"
        "    from gw.app import respond\n"
    )
    (pkg / "gateway.py").write_text("class Gateway: ...\n")
    found = cycle(import_graph(pkg, "gw"))
    assert found is not None and {"gw.app", "gw.admin"} <= set(found)
    (pkg / "admin.py").write_text("from .respond import respond\n")  # a relative import too
    (pkg / "respond.py").write_text("def respond(outcome): ...\n")
    assert cycle(import_graph(pkg, "gw")) is None
    (pkg / "respond.py").write_text("from . import app\n")
    assert cycle(import_graph(pkg, "gw")) is not None


def test_nothing_in_the_package_imports_the_old_module_paths() -> None:
    graph = import_graph(ROOT, "aiarmor.serving")
    for name, edges in graph.items():
        assert not edges & OLD_PATHS, f"{name} imports {sorted(edges & OLD_PATHS)}"
