"""The public face: a literal ``__all__`` bound by imports a type checker follows, loaded lazily;
the module paths and top-level names of ucf-nb 0.1 still work, with a FutureWarning; the
``python -m ucf_nb`` command."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import ucf_nb
from ucf_nb._compat import MOVED_MODULES, QUIET_MOVES

ROOT = Path(__file__).resolve().parent.parent
INIT = ROOT / "ucf_nb" / "__init__.py"
NEEDED = (
    "build_index",
    "read_index",
    "validate_index",
    "extract_split",
    "load_embeddings",
    "run_probe",
    "fit_probe",
    "fit_mil",
    "export_features",
    "compare_runs",
    "submit_extraction",
    "load_encoder",
    "Encoder",
    "Preprocessing",
    "ClipDataset",
    "VideoClipStream",
    "uniform_sample_indices",
    "seek_is_exact",
)
# the same-named stage packages re-export the ucf-nb 0.1 module's names from this module
SAME_NAMED = {
    "ucf_nb.index": "ucf_nb.index.build",
    "ucf_nb.video": "ucf_nb.video.decode",
    "ucf_nb.store": "ucf_nb.store.arrays",
    "ucf_nb.extract": "ucf_nb.extract.split",
    "ucf_nb.report": "ucf_nb.report.book",
    "ucf_nb.demo": "ucf_nb.demo.make",
}


def _static_face() -> tuple[list[str], dict[str, str]]:
    """``__all__`` as written (a literal) and name -> module of the TYPE_CHECKING imports."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    names: list[str] | None = None
    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            names = ast.literal_eval(node.value)  # raises unless a literal
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.level == 1, ast.dump(imp)
                for alias in imp.names:
                    assert alias.asname is None and alias.name not in bound, alias.name
                    bound[alias.name] = f"ucf_nb.{imp.module}"
    assert names is not None, "ucf_nb/__init__.py has no literal __all__"
    return names, bound


def test_all_is_a_literal_list_each_name_bound_by_an_import_a_type_checker_follows():
    names, bound = _static_face()
    assert len(names) == len(set(names)) < 70
    assert set(NEEDED) <= set(names)
    assert sorted(bound) == sorted(names)
    assert all(n.endswith("Error") for n in names if n.endswith("Error"))
    for name, module in bound.items():
        assert getattr(ucf_nb, name) is getattr(importlib.import_module(module), name), name
    assert ucf_nb.__all__ == names


def test_every_exception_of_the_package_is_at_the_top():
    _, bound = _static_face()
    for module in sorted(set(bound.values())):
        for name in getattr(importlib.import_module(module), "__all__", ()):
            if name.endswith("Error"):
                assert name in ucf_nb.__all__, f"{module}.{name} is not a top-level name"


def test_test_and_demo_helpers_stay_in_their_modules():
    from ucf_nb.demo import make, synthetic

    for name in (*synthetic.__all__, *make.__all__, "atomic_write", "check_int"):
        assert name not in ucf_nb.__all__
        with pytest.raises(AttributeError, match=f"no attribute '{name}'"):
            getattr(ucf_nb, name)


def test_a_name_dropped_from_the_top_warns_and_names_its_stage():
    from ucf_nb.store.arrays import embedding_stats
    from ucf_nb.video.dataset import collate_clips

    with pytest.warns(FutureWarning, match=r"ucf_nb.store.arrays"):
        assert ucf_nb.embedding_stats is embedding_stats
    with pytest.warns(FutureWarning, match=r"ucf_nb.video.dataset"):
        assert ucf_nb.collate_clips is collate_clips
    assert "embedding_stats" not in ucf_nb.__all__


def test_old_module_paths_import_with_a_warning_naming_the_new_one_and_give_the_same_objects():
    # a fresh interpreter: in this one the old paths may be imported already (no second warning)
    code = (
        "import importlib, json, sys, warnings\n"
        "import ucf_nb\n"
        "from ucf_nb._compat import MOVED_MODULES\n"
        "out = {}\n"
        "for old, new in MOVED_MODULES.items():\n"
        "    with warnings.catch_warnings(record=True) as caught:\n"
        "        warnings.simplefilter('always')\n"
        "        exec(compile(f'import {old}', '<user script>', 'exec'))\n"
        "    mod = sys.modules[old]\n"
        "    again = importlib.import_module(old)\n"
        "    out[old] = {'same': mod is importlib.import_module(new) is again,\n"
        "                'name': mod.__name__, 'spec': mod.__spec__.name,\n"
        "                'warnings': [(w.category.__name__, str(w.message), w.filename) for w in caught]}\n"
        "print(json.dumps(out))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    seen = json.loads(out.stdout)
    assert sorted(seen) == sorted(MOVED_MODULES)
    for old, new in MOVED_MODULES.items():
        got = seen[old]
        assert got["same"] and got["name"] == got["spec"] == new, (old, got)
        if old in QUIET_MOVES:
            assert got["warnings"] == [], (old, got)
            continue
        assert len(got["warnings"]) == 1, (old, got)
        category, message, filename = got["warnings"][0]
        assert category == "FutureWarning" and old in message and new in message
        assert filename == "<user script>"  # the warning points at the import, not at importlib


def test_from_an_old_module_path_import_a_name_gives_the_same_object():
    with warnings.catch_warnings():  # warned once per process (see above); here: the objects
        warnings.simplefilter("ignore", FutureWarning)
        from ucf_nb.launch import submit_extraction  # type: ignore[import-not-found]  # an old path, found at run time
        from ucf_nb.metrics import frame_scores  # type: ignore[import-not-found]
        from ucf_nb.runs import compare_runs  # type: ignore[import-not-found]

    assert submit_extraction is ucf_nb.submit_extraction
    assert frame_scores is ucf_nb.frame_scores
    assert compare_runs is ucf_nb.compare_runs


@pytest.mark.parametrize("package, module", sorted(SAME_NAMED.items()))
def test_a_stage_package_named_as_an_old_module_re_exports_its_names(package, module):
    pkg, mod = importlib.import_module(package), importlib.import_module(module)
    assert pkg.__all__ == mod.__all__
    for name in mod.__all__:
        assert getattr(pkg, name) is getattr(mod, name), f"{package}.{name}"


@pytest.mark.slow
def test_import_is_lazy_and_reading_an_index_needs_no_torch():
    code = (
        "import sys, ucf_nb; ucf_nb.read_index; ucf_nb.validate_index; ucf_nb.build_index; "
        "import ucf_nb.index, ucf_nb.video, ucf_nb.store, ucf_nb.extract; "
        "print(sorted(m for m in ('torch', 'transformers', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "[]", out.stdout


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_python_m_ucf_nb_lists_its_subcommands_and_refuses_an_unknown_one():
    out = _run("-m", "ucf_nb", "--help")
    assert out.returncode == 0, out.stderr
    for command in ("demo", "run", "prepare", "build", "extract", "export"):
        assert f"    {command} " in out.stdout, (command, out.stdout)
    bad = _run("-m", "ucf_nb", "exprot")
    assert bad.returncode == 2 and "invalid choice: 'exprot'" in bad.stderr, bad.stderr


@pytest.mark.parametrize(
    "argv, usage",
    [
        (["-m", "ucf_nb", "export", "--help"], "usage: python -m ucf_nb.export"),
        (["-m", "ucf_nb", "prepare", "--help"], "usage: python -m ucf_nb.report prepare"),
        (["-m", "ucf_nb", "demo", "--help"], "usage: python -m ucf_nb.demo"),
        (["-m", "ucf_nb.report", "extract", "--help"], "usage: python -m ucf_nb.report extract"),
        (["-m", "ucf_nb.demo", "--help"], "usage: python -m ucf_nb.demo"),
        (["-m", "ucf_nb.export", "--help"], "usage: python -m ucf_nb.export"),
    ],
)
def test_each_subcommand_and_each_old_command_reaches_its_command_line(argv, usage):
    out = _run(*argv)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(usage), out.stdout
    if argv[1] == "ucf_nb.export":  # the old module path: works, and says where it went
        assert "FutureWarning: ucf_nb.export moved to ucf_nb.evaluate.export" in out.stderr, out.stderr


def test_python_m_ucf_nb_prepare_writes_what_python_m_ucf_nb_report_prepare_writes(tmp_path):
    """A real subcommand end to end: the same notebooks, byte for byte, as the report's own CLI."""
    new = _run("-m", "ucf_nb", "prepare", "--dest", str(tmp_path / "new"))
    old = _run("-m", "ucf_nb.report", "prepare", "--dest", str(tmp_path / "old"))
    assert new.returncode == 0 == old.returncode, new.stderr + old.stderr
    written = {p.name: p.read_bytes() for p in (tmp_path / "new").glob("*.ipynb")}
    assert len(written) >= len(list((ROOT / "notebooks").glob("*.ipynb")))
    assert written == {p.name: p.read_bytes() for p in (tmp_path / "old").glob("*.ipynb")}
