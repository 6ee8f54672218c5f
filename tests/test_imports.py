"""The package's import graph, read from the source (ast): no loops, no borrowed privates, and
package imports at module top unless a comment says why.

Every import in ``ucf_nb/`` counts: at module top, under ``if TYPE_CHECKING:`` and inside
functions. ``from .pkg import name`` is an edge to ``pkg.name`` when that is a module, else to
``pkg``; importing a module does not count as importing its parent packages (a package's
``__init__`` importing its own modules is not a loop). Tests and benchmarks may import a
module's private names (white-box tests of that module); the package itself may not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ucf_nb"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, level: int, target: str | None) -> str:
    """The absolute module path of ``from {'.' * level}{target} import ...`` inside ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _imports(module: str, tree: ast.Module | None = None) -> list[tuple[ast.stmt, str, str | None]]:
    """Every package import in ``module`` (parsed ``tree``): (statement, imported module, imported
    name or None)."""
    if tree is None:
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out: list[tuple[ast.stmt, str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node, a.name, None) for a in node.names if a.name.split(".")[0] == "ucf_nb"]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node.level, node.module)
            if target.split(".")[0] != "ucf_nb":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((node, sub, None) if sub in MODULES else (node, target, a.name))
    return out


def _graph() -> dict[str, set[str]]:
    return {m: {t for _, t, _ in _imports(m) if t in MODULES and t != m} for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_every_kind_of_import():
    # the checks below are only as good as the graph: top-level, TYPE_CHECKING and local imports
    graph = _graph()
    assert "ucf_nb.evaluate.metrics" in graph["ucf_nb.evaluate.probe"]  # top level
    assert "ucf_nb.report.book" in graph["ucf_nb"]  # under TYPE_CHECKING in __init__
    assert "ucf_nb.encoders" in graph["ucf_nb.extract.split"]  # inside functions only
    assert "ucf_nb.encoders.videomae" in graph["ucf_nb.encoders"]  # from . import module


def test_cycle_finder_finds_a_loop_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_loops():
    loops = _cycles(_graph())
    assert not loops, (
        "import loops (each list imports itself through the others; move the shared "
        f"piece down into a module both import): {loops}"
    )


def test_no_module_imports_another_modules_private_names():
    borrowed = [
        f"{MODULES[m].relative_to(PACKAGE.parent)}:{node.lineno} takes {name} from {target}"
        for m in MODULES
        for node, target, name in _imports(m)
        if name is not None and name.startswith("_") and target != m
    ]
    assert not borrowed, (
        "private names used across modules (make the name public in its module, or "
        "the module private): " + "; ".join(borrowed)
    )


def _local_imports_without_reason(module: str) -> list[str]:
    """Functions of ``module`` whose first package import carries no comment (on its line or the
    line above) saying why it is not at the module's top."""
    source = MODULES[module].read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    local = {
        id(node)
        for fn in ast.walk(tree)
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(fn)
        if isinstance(node, (ast.Import, ast.ImportFrom))
    }
    first: dict[str, ast.stmt] = {}
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        nested = {
            id(n)
            for inner in ast.walk(fn)
            if inner is not fn and isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(inner)
        }
        ours = [
            node
            for node, _t, _n in _imports(module, tree)
            if id(node) in local and id(node) not in nested and any(node is n for n in ast.walk(fn))
        ]
        if ours:
            first[fn.name] = min(ours, key=lambda n: n.lineno)
    bad = []
    for fn_name, node in first.items():
        text = "\n".join(lines[node.lineno - 1 : node.end_lineno or node.lineno])
        above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
        if "#" not in text and not above.startswith("#"):
            bad.append(f"{MODULES[module].relative_to(PACKAGE.parent)}:{node.lineno} ({fn_name})")
    return bad


def test_package_imports_inside_functions_say_why():
    bad = [where for m in MODULES for where in _local_imports_without_reason(m)]
    assert not bad, (
        "package imports inside functions without a comment saying why (move them to the "
        "module's top, or say why: e.g. '# torch-free import of ucf_nb'): " + ", ".join(bad)
    )


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def f():\n    from .paths import resolve_path\n    return resolve_path\n", 1),
        ("def f():\n    from .paths import resolve_path  # cold path\n    return resolve_path\n", 0),
        ("def f():\n    # torch-free import of ucf_nb\n    from .encoders import load_encoder\n", 0),
        ("def f():\n    import numpy\n    return numpy\n", 0),
    ],
)
def test_local_import_rule_on_small_sources(tmp_path, monkeypatch, source, expected):
    # a module written into a scratch package: the rule flags only uncommented package imports
    package = tmp_path / "ucf_nb"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "paths.py").write_text("def resolve_path(p):\n    return p\n")
    (package / "encoders.py").write_text("def load_encoder():\n    pass\n")
    (package / "probe.py").write_text(source)
    scratch = {_module_name_in(package, p): p for p in sorted(package.rglob("*.py"))}
    monkeypatch.setitem(globals(), "MODULES", scratch)
    monkeypatch.setitem(globals(), "PACKAGE", package)
    assert len(_local_imports_without_reason("ucf_nb.probe")) == expected


def _module_name_in(package: Path, path: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
