"""Renamed parameters and moved modules: the old names keep working for one release, with a
FutureWarning.

ucf-nb 0.2 uses one name per concept across notebooks, functions and ``-p`` overrides
(``annotation_path``, ``probe_threads`` for the index build's video-probing threads,
``num_workers`` for DataLoader worker processes only, ``img_size``, ``T``). Old names given by a
caller are mapped here; when the old and the new name are both given, the new one wins.

ucf-nb 0.2 also groups its modules in stage folders (``ucf_nb.metrics`` is
``ucf_nb.evaluate.metrics``...). :data:`MOVED_MODULES` lists every old module path; importing one
(or running it with ``python -m``) warns and hands out the module at its new path, the same
object, through a finder on :data:`sys.meta_path` that ``import ucf_nb`` installs. Old paths that
are now a stage package of the same name (``ucf_nb.index``, ``ucf_nb.video``, ``ucf_nb.store``,
``ucf_nb.extract``, ``ucf_nb.report``, ``ucf_nb.demo``) re-export the old module's names there.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings
from collections.abc import Mapping
from typing import Any

REMOVED_IN = "0.3"


def rename_deprecated(
    old_values: Mapping[str, Any],
    renames: Mapping[str, str],
    new_values: Mapping[str, tuple[Any, Any]],
    *,
    where: str,
    stacklevel: int = 3,
) -> dict[str, Any]:
    """Map deprecated keyword arguments onto their new names.

    Parameters
    ----------
    old_values : mapping
        Old name -> value as the caller passed it; None means "not given".
    renames : mapping
        Old name -> new name.
    new_values : mapping
        New name -> (value passed, its default). A value other than the default counts as given.
    where : str
        The function's name, for the messages.

    Returns
    -------
    dict
        New name -> the value to use.

    Raises
    ------
    TypeError
        An old name that is not a known rename (a typo): named, as Python would.
    """
    out = {new: value for new, (value, _default) in new_values.items()}
    for old, value in old_values.items():
        if old not in renames:
            raise TypeError(f"{where}() got an unexpected keyword argument {old!r}")
        if value is None:
            continue
        new = renames[old]
        given, default = new_values[new]
        if given is not default and given != default:
            warnings.warn(
                f"{where}: {old}= is the old name of {new}= and both were given; using "
                f"{new}={given!r} and ignoring {old}={value!r}. Drop {old}= (it is removed in "
                f"ucf-nb {REMOVED_IN}).",
                FutureWarning,
                stacklevel=stacklevel,
            )
        else:
            warnings.warn(
                f"{where}: {old}= is renamed {new}= (the old name is removed in ucf-nb "
                f"{REMOVED_IN}); using {new}={value!r}.",
                FutureWarning,
                stacklevel=stacklevel,
            )
            out[new] = value
    return out


# old module path -> new module path (ucf-nb 0.2); removed in REMOVED_IN
MOVED_MODULES = {
    "ucf_nb.annotations": "ucf_nb.index.annotations",
    "ucf_nb.locate": "ucf_nb.index.locate",
    "ucf_nb.validate": "ucf_nb.index.validate",
    "ucf_nb.sampling": "ucf_nb.video.sampling",
    "ucf_nb.preprocess": "ucf_nb.video.preprocess",
    "ucf_nb.dataset": "ucf_nb.video.dataset",
    "ucf_nb.workers": "ucf_nb.video.workers",
    "ucf_nb.tiny": "ucf_nb.encoders.tiny",
    "ucf_nb.manifest": "ucf_nb.store.manifest",
    "ucf_nb.shardlock": "ucf_nb.store.shardlock",
    "ucf_nb.failures": "ucf_nb.extract.failures",
    "ucf_nb.launch": "ucf_nb.extract.launch",
    "ucf_nb.tasks": "ucf_nb.extract.tasks",
    "ucf_nb.metrics": "ucf_nb.evaluate.metrics",
    "ucf_nb.field": "ucf_nb.evaluate.field",
    "ucf_nb.linear": "ucf_nb.evaluate.linear",
    "ucf_nb.mil": "ucf_nb.evaluate.mil",
    "ucf_nb.probe": "ucf_nb.evaluate.probe",
    "ucf_nb.export": "ucf_nb.evaluate.export",
    "ucf_nb.runs": "ucf_nb.evaluate.runs",
    "ucf_nb.pipeline": "ucf_nb.report.pipeline",
    "ucf_nb.plots": "ucf_nb.report.plots",
    "ucf_nb.synthetic": "ucf_nb.demo.synthetic",
}
# Moved without a warning until the golden notebooks are regenerated: the goldens made before
# 0.2 import ``ucf_nb.plots``, and a warning would be a new output of theirs.
QUIET_MOVES = frozenset({"ucf_nb.plots"})


def moved_message(old: str, new: str) -> str:
    """The FutureWarning for an import of the old module path ``old``."""
    return (
        f"{old} moved to {new} (ucf-nb 0.2); import it from there, or use the top-level "
        f"ucf_nb names. The old path is removed in ucf-nb {REMOVED_IN}."
    )


class _MovedModuleLoader(importlib.abc.Loader):
    """Hands out the module at its new path (the same object) under its old path."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def create_module(self, spec: Any) -> types.ModuleType:
        if self.old not in QUIET_MOVES:
            # importlib's own frames are skipped by warnings: stacklevel 2 is the importer
            warnings.warn(moved_message(self.old, self.new), FutureWarning, stacklevel=2)
        module = importlib.import_module(self.new)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # already executed at its new path; importlib has just set __spec__ to the old path's
        # spec: the module keeps its own (its name, for pickling, workers and reload)
        module.__spec__ = self._spec

    def get_code(self, fullname: str) -> types.CodeType:
        """``python -m <old path>``: run the new module as ``__main__``."""
        source = (
            f"import runpy, warnings\n"
            f"warnings.warn({moved_message(self.old, self.new)!r}, FutureWarning, stacklevel=1)\n"
            f"runpy.run_module({self.new!r}, run_name='__main__', alter_sys=True)\n"
        )
        return compile(source, f"<{self.old}>", "exec")

    def is_package(self, fullname: str) -> bool:
        return False


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        new = MOVED_MODULES.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _MovedModuleLoader(fullname, new))


def install_moved_module_finder() -> None:
    """Put the finder of the old module paths first on :data:`sys.meta_path` (once): first, so
    that an editable install's finder, which maps every ``ucf_nb.*`` name to its checkout, does
    not hand out a stale file for a path that moved."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleFinder())
