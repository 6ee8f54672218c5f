"""Test tooling for the golden notebooks and the smoke run (not part of the package).

Command line (the Makefile calls these)::

    python tests/golden_tools.py regold [--demo DIR]   # rewrite tests/golden/*.ipynb
    python tests/golden_tools.py smoke [--demo DIR]    # notebooks/ under nbval-lax

The goldens are the demo run's executed notebooks, sanitized with nbval's own patterns
(``tests/golden/sanitize.cfg``) so that they hold no times that change every run.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ucf_nb.paths import display_path, project_root, resolve_path
from ucf_nb.report.pipeline import (
    _execute,
    demo_extra_runs,
    demo_parameters,
    notebook_problems,
    pipeline_steps,
    run_with_extra_runs,
)

GOLDEN_DIR = "tests/golden"
GOLDEN_OUT = "build/golden/processed"
SMOKE_DIR = "build/smoke"
SANITIZE_FILE = "tests/golden/sanitize.cfg"

# This pytest session's outcomes of the golden notebooks' cells (tests/golden/conftest.py fills
# it): notebook name -> one outcome per cell phase ("passed", "failed", "skipped"). Emptied
# with GOLDEN_OUT when the golden notebooks are collected.
GOLDEN_RESULTS: dict[str, list[str]] = {}


def regold(args) -> int:
    """Execute the demo into tests/golden with outputs in build/golden, sanitized for nbval."""
    import nbformat

    golden, out = resolve_path(GOLDEN_DIR), resolve_path(GOLDEN_OUT)
    if out.exists():
        shutil.rmtree(out)
    params = demo_parameters(args.demo, out_dir=GOLDEN_OUT)
    for old in golden.glob("*.ipynb"):
        old.unlink()
    executed = run_with_extra_runs(
        pipeline_steps(params),
        golden,
        notebooks_dir=args.notebooks,
        extra_runs=demo_extra_runs(args.demo, out_dir=GOLDEN_OUT),
    )
    patterns = read_sanitize_patterns(resolve_path(SANITIZE_FILE))
    for path in executed:
        nb = sanitize_notebook(nbformat.read(path, as_version=4), patterns)
        nbformat.write(nb, path)
        for msg in notebook_problems(nb):
            print(f"warning: {display_path(path)}: {msg}", file=sys.stderr)
    print(f"golden notebooks: {display_path(golden)} ({len(executed)} files)")
    return 0


def smoke(args) -> int:
    """Inject the demo parameters into copies of notebooks/ and run them under nbval-lax."""
    smoke = resolve_path(SMOKE_DIR)
    if smoke.exists():
        shutil.rmtree(smoke)
    smoke.mkdir(parents=True)
    params = demo_parameters(args.demo, out_dir=f"{SMOKE_DIR}/processed")
    notebooks_dir = resolve_path(args.notebooks)
    files = [_execute(step, notebooks_dir, smoke, prepare_only=True) for step in pipeline_steps(params)]
    # pytest keeps the order of its arguments: the notebooks run in pipeline order.
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval-lax",
        "--nbval-current-env",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(smoke),
        "-q",
        *map(str, files),
    ]
    return subprocess.call(cmd, cwd=project_root())


def golden_run_of_this_session(demo: str, steps: Sequence[str], *, notebooks_dir: str = "notebooks") -> Path | None:
    """GOLDEN_OUT when this session's nbval run of the golden notebooks was a complete run of
    exactly these pipeline ``steps`` (names) on ``demo``, else None.

    It is one when, for every step, the golden notebook's injected parameters are
    ``demo_parameters(demo, out_dir=GOLDEN_OUT)``'s, its other code cells are the source
    notebook's cells, unchanged and in order, and every one of its cells ran and passed in this
    session. Then GOLDEN_OUT holds what a papermill run of those steps into GOLDEN_OUT writes.
    """
    import ast

    import nbformat

    wanted = {step.name: step for step in pipeline_steps(demo_parameters(demo, out_dir=GOLDEN_OUT))}
    for name in steps:
        step = wanted.get(name)
        path = resolve_path(GOLDEN_DIR) / f"{name}.ipynb"
        if step is None or not path.is_file():
            return None
        code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        injected = [c for c in code if "injected-parameters" in c.metadata.get("tags", [])]
        if len(injected) != 1:
            return None
        params = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(injected[0].source).body}
        source = nbformat.read(resolve_path(notebooks_dir) / f"{step.notebook}.ipynb", as_version=4)
        if params != dict(step.parameters) or [c.source for c in code if c is not injected[0]] != [
            c.source for c in source.cells if c.cell_type == "code"
        ]:
            return None
        outcomes = GOLDEN_RESULTS.get(name, [])
        # each cell reports setup, call and teardown: all passed, for every cell
        if outcomes.count("passed") != 3 * len(code) or len(outcomes) != 3 * len(code):
            return None
    return resolve_path(GOLDEN_OUT)


def read_sanitize_patterns(path: Path) -> list[tuple[str, str]]:
    """The (regex, replacement) pairs of an nbval sanitize file, in order."""
    from nbval.plugin import get_sanitize_patterns

    return list(get_sanitize_patterns(path.read_text()))


def sanitize_notebook(nb, patterns: Sequence[tuple[str, str]]):
    """Apply nbval's sanitize patterns to every text output, as nbval does before comparing.

    The patterns are idempotent, so comparing a sanitized golden with a fresh run compares
    the same text; the golden files themselves no longer hold times that change every run.
    """
    nb = copy.deepcopy(nb)

    def sub(s):
        for regex, repl in patterns:
            s = re.sub(regex, repl, s)
        return s

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = sub(out["text"])
            for mime, data in out.get("data", {}).items():
                if mime.startswith("text/") and isinstance(data, str):
                    out["data"][mime] = sub(data)
    return nb


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/golden_tools.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("regold", "rewrite the golden notebooks under tests/golden from the demo"),
        ("smoke", "run the source notebooks on the demo data under pytest --nbval-lax"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument(
            "--demo",
            metavar="DIR",
            default="demo",
            help="use the demo data and encoder under DIR (written by python -m ucf_nb.demo DIR)",
        )
        p.add_argument("--notebooks", default="notebooks", help="folder of the source notebooks")
    args = parser.parse_args(argv)
    try:
        return regold(args) if args.command == "regold" else smoke(args)
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
