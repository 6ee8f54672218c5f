"""Where relative paths live.

Every relative path a user passes to ``ucf_nb`` (an index, an output folder, a dataset root)
resolves against the *project root*, never against the process's working directory: papermill,
Jupyter and nbval all start kernels in different folders, and a notebook must read the same
files from each of them. Absolute paths are used as given.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["project_root", "resolve_path", "display_path"]

ROOT_ENV = "UCF_NB_ROOT"


def _looks_like_root(folder: Path) -> bool:
    return (folder / "pyproject.toml").is_file() and (folder / "ucf_nb").is_dir()


def project_root() -> Path:
    """Return the folder that relative paths resolve against.

    In order: the ``UCF_NB_ROOT`` environment variable; the checkout this package was
    imported from (``pip install -e .``); the nearest parent of the working directory that
    holds ``pyproject.toml`` and ``ucf_nb/``; the working directory itself.

    Returns
    -------
    pathlib.Path
        An absolute path.
    """
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if _looks_like_root(checkout):
        return checkout
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if _looks_like_root(folder):
            return folder
    return cwd


def resolve_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Resolve ``path`` against ``root`` (default: :func:`project_root`).

    ``~`` is expanded; an absolute path is returned unchanged.
    """
    if path is None or (isinstance(path, str) and not path.strip()):
        raise ValueError(f"expected a path, got {path!r}")
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    return Path(root if root is not None else project_root()) / p


def display_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """Return ``path`` relative to the project root when it lies inside it, else as is.

    Used for anything printed in a notebook, so that built pages do not show the absolute
    paths of the machine that ran them.
    """
    base = Path(root if root is not None else project_root()).resolve()
    p = resolve_path(path, base)
    try:
        return p.resolve().relative_to(base).as_posix()
    except ValueError:
        return str(p)


DEMO_DIR = "demo"
"""Where ``make demo`` writes the demo data and its run (``demo/processed``)."""


def demo_hint(missing: str | os.PathLike, parameter: str, *, folder: bool = False) -> str:
    """A sentence to append to a "not found" message when the demo has the file a default names.

    A notebook run with its defaults (the real run's ``processed/...``) after ``make demo``
    finds nothing there; the demo's copy is under ``demo/``. Returns ``""`` when there is no
    such copy (or ``missing`` is absolute). With ``folder``, the parameter names the file's
    folder (``out_dir``), not the file.
    """
    rel = Path(display_path(missing))
    if rel.is_absolute() or (rel.parts and rel.parts[0] == DEMO_DIR):
        return ""
    candidate = resolve_path(Path(DEMO_DIR) / rel)
    if not candidate.exists():
        return ""
    value = display_path(candidate.parent if folder else candidate)
    return f" (after `make demo`, the demo's is {parameter}={value!r})"
