"""Progress bars: a widget in an interactive Jupyter session, one plain text line everywhere else.

The book shows the notebooks as papermill executed them, and a widget bar saved there reads as
``HBox(children=...)``; so the runs that make the book (``python -m ucf_nb.report``) and the
tests set ``UCF_NB_PROGRESS=text`` for their kernels. A person working in Jupyter Lab gets a
widget bar (ipywidgets is part of the ``jupyter`` extra); a terminal gets tqdm's text bar.
Without ipywidgets, the text bar is used silently (tqdm.auto would warn, from its own file).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["PROGRESS_ENV", "progress_bar", "text_progress"]

PROGRESS_ENV = "UCF_NB_PROGRESS"
"""Environment variable: ``"text"`` forces the text bar, ``"widget"`` asks for the widget bar
(used when ipywidgets is importable); unset: widget in a Jupyter kernel, text elsewhere."""

_KINDS = ("text", "widget")


def _in_kernel() -> bool:
    import sys

    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def _widgets_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None


def _kind() -> str:
    value = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if value and value not in _KINDS:
        raise ValueError(f"{PROGRESS_ENV}={value!r} is not a progress-bar kind: set it to 'text' or "
                         f"'widget', or unset it.")
    if value == "text" or not _widgets_available():
        return "text"
    if value == "widget" or _in_kernel():
        return "widget"
    return "text"


def progress_bar(*args: Any, **kwargs: Any):
    """A ``tqdm`` bar (same arguments): a widget in a Jupyter kernel, the text bar elsewhere.

    See :data:`PROGRESS_ENV` for how the runs that make the book keep the text bar.
    """
    if _kind() == "widget":
        from tqdm.notebook import tqdm
    else:
        from tqdm import tqdm
    return tqdm(*args, **kwargs)


@contextmanager
def text_progress() -> Iterator[None]:
    """Within the block, kernels started from this process (papermill, nbval) draw text bars."""
    old = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = "text"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = old
