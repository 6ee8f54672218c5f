"""Progress bars: a widget in an interactive Jupyter session, one plain text line everywhere else.

A widget bar saved in an executed notebook is frozen at the state it was displayed in
(``0/644712``, or ``HBox(children=...)``): nothing updates it once the kernel is gone. So a
widget is drawn only for a person at a notebook: a kernel whose current request comes from a
frontend that can answer ``input()`` (Jupyter Lab, Notebook, VS Code). papermill, nbconvert
and nbval execute with stdin disallowed and get the text bar, whose saved output ends with
the finished ``N/N`` line. ``UCF_NB_PROGRESS`` (:data:`PROGRESS_ENV`) overrides the choice;
the runs that make the book (``python -m ucf_nb.report``) set it to ``text``. Without
ipywidgets, the text bar is used silently (tqdm.auto would warn, from its own file).

Inside a kernel every stream output is kept in the saved notebook, so a text bar there is
throttled: it is redrawn only every :data:`KERNEL_STEPS`-th of its total (and at most once a
second), a handful of outputs per cell instead of one per update. A terminal gets tqdm's
ordinary live bar.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["PROGRESS_ENV", "finish_early", "progress_bar", "text_progress"]

PROGRESS_ENV = "UCF_NB_PROGRESS"
"""Environment variable: ``"text"`` forces the text bar, ``"widget"`` asks for the widget bar
(used when ipywidgets is importable); unset: widget in a Jupyter kernel, text elsewhere."""

_KINDS = ("text", "widget")

KERNEL_STEPS = 20
"""A text bar inside a kernel is redrawn once per this fraction of its total (every 5 %)."""
KERNEL_MININTERVAL = 1.0
"""... and at most once per this many seconds."""
KERNEL_MININTERVAL_NO_TOTAL = 30.0
"""A text bar without a total inside a kernel: redrawn at most once per this many seconds."""


def _in_kernel() -> bool:
    import sys

    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def _interactive_frontend() -> bool:
    """Whether the kernel's current request comes from a frontend a person uses: one that
    allows ``input()``. nbclient (papermill, nbconvert) and nbval always send
    ``allow_stdin=False``; Jupyter Lab, Notebook and VS Code allow it."""
    import sys

    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    kernel = getattr(shell, "kernel", None)
    get_parent = getattr(kernel, "get_parent", None)
    if get_parent is None:
        return True  # an ipykernel before 6: keep the widget, as before
    try:
        parent = get_parent("shell") or {}
    except Exception:  # pragma: no cover - a kernel without a shell channel parent
        return True
    return bool(parent.get("content", {}).get("allow_stdin", False))


def _widgets_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None


def _kind() -> str:
    value = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if value and value not in _KINDS:
        raise ValueError(
            f"{PROGRESS_ENV}={value!r} is not a progress-bar kind: set it to 'text' or 'widget', or unset it."
        )
    if value == "text" or not _widgets_available():
        return "text"
    if value == "widget" or (_in_kernel() and _interactive_frontend()):
        return "widget"
    return "text"


def _kernel_throttle(args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """tqdm arguments that redraw a text bar in a kernel a handful of times, not thousands."""
    total = kwargs.get("total")
    if total is None and args:
        try:
            total = len(args[0])
        except TypeError:
            total = None
    out = dict(kwargs)
    if total:
        out.setdefault("miniters", max(1, math.ceil(total / KERNEL_STEPS)))
        out["mininterval"] = max(float(kwargs.get("mininterval", 0.1)), KERNEL_MININTERVAL)
    else:
        out["mininterval"] = max(float(kwargs.get("mininterval", 0.1)), KERNEL_MININTERVAL_NO_TOTAL)
    # tqdm's monitor thread would drop miniters to 1 after maxinterval without a redraw
    out["maxinterval"] = math.inf
    return out


def progress_bar(*args: Any, **kwargs: Any):
    """A ``tqdm`` bar (same arguments): a widget for a person at a Jupyter notebook, the text
    bar elsewhere (throttled inside a kernel: see the module's docstring).

    See :data:`PROGRESS_ENV` for how the runs that make the book keep the text bar.
    """
    if _kind() == "widget":
        from tqdm.notebook import tqdm

        return tqdm(*args, **kwargs)
    from tqdm import tqdm

    if _in_kernel():
        kwargs = _kernel_throttle(args, kwargs)
    return tqdm(*args, **kwargs)


def finish_early(bar: Any, done: int, note: str) -> None:
    """End ``bar`` after ``done`` steps of its total on purpose (early stopping, say).

    The total becomes ``done``, so the bar ends full (``done/done``) with ``note`` as its
    postfix instead of stopping part way (``199/400``, which reads as a crash; Jupyter's
    widget would also turn red on close). Call it before leaving the loop; ``close()``
    then draws the final line as usual. For a bar updated by hand (``update()``): a bar
    iterated over (``for x in bar``) sets its own count again when the loop is left.

    Parameters
    ----------
    bar : tqdm
        A bar from :func:`progress_bar` (text or widget; a disabled bar is left alone).
    done : int
        Steps done, >= 0.
    note : str
        Why the bar ends here, e.g. ``"stopped early at 200 (best 150)"``.
    """
    if getattr(bar, "disable", False):
        return
    container = getattr(bar, "container", None)  # the widget bar: (label, bar, text)
    if container is not None:
        container.children[1].max = done
    bar.total = done
    bar.n = done
    bar.set_postfix_str(note, refresh=False)


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
