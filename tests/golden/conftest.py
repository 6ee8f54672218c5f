"""Setup for the golden notebooks (``pytest --nbval tests/golden``).

The goldens are the demo run's executed notebooks (``make regold``). nbval re-executes each
one in its own kernel and compares every output cell with the stored one, after the patterns
in ``sanitize.cfg``. The goldens write their outputs to ``build/golden/`` (see
``tests/golden_tools.py``'s ``GOLDEN_OUT``): that folder is emptied before the session so extraction really
runs instead of resuming a finished split, and the notebooks run in pipeline order
(00, 01, 02 train/val/test, 03) rather than alphabetically. Before 04_compare, the demo's
other encoder families are extracted and probed into the same folder, as ``make regold`` did
(``ucf_nb.report.pipeline.demo_extra_runs``), so the comparison page sees the same runs.

nbval 0.11 executes cells with ``store_history=False``; IPython then cannot see the cell it is
running when deciding whether a trailing ``;`` silences the result, so ``plot(df);`` shows the
Figure's repr under nbval but not under Jupyter or papermill, which made the goldens. The
cells are executed here as Jupyter executes them (``store_history=True``).

Every golden cell's outcome is recorded (``golden_tools.GOLDEN_RESULTS``): when all of it passed,
tests/test_determinism.py takes this run as its second run of the pipeline instead of running
the same notebooks once more.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbval.kernel

HERE = Path(__file__).resolve().parent


def _execute_like_jupyter(self, cell_input, allow_stdin=None):
    return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)


nbval.kernel.RunningKernel.execute_cell_input = _execute_like_jupyter


DEMO_DIR = "demo"  # the Makefile's DEMO_DIR, with which `make regold` made the goldens
_extra_runs_done: list[bool] = []


def pytest_runtest_setup(item):
    path = Path(str(getattr(item, "fspath", ""))).resolve()
    if path.parent != HERE or path.stem != "04_compare" or _extra_runs_done:
        return
    from golden_tools import GOLDEN_OUT
    from ucf_nb.report.pipeline import demo_extra_runs
    from ucf_nb.evaluate.runs import run_encoder

    _extra_runs_done.append(True)
    for kwargs in demo_extra_runs(DEMO_DIR, out_dir=GOLDEN_OUT):
        run_encoder(**kwargs, progress=False)


def pytest_runtest_logreport(report):
    """Every golden cell's outcome, per phase, in golden_tools.GOLDEN_RESULTS: a later test may
    use this session's golden run as a run of the pipeline only when all of it passed."""
    from golden_tools import GOLDEN_RESULTS

    path = Path(report.nodeid.split("::")[0])
    if path.suffix == ".ipynb" and path.parent.name == HERE.name:
        GOLDEN_RESULTS.setdefault(path.stem, []).append(report.outcome)


def _golden_rank(item) -> tuple[int, int] | None:
    from ucf_nb.report.pipeline import pipeline_steps

    path = Path(str(item.fspath)).resolve()
    if path.parent != HERE or path.suffix != ".ipynb":
        return None
    order = [step.name for step in pipeline_steps()]
    return (order.index(path.stem) if path.stem in order else len(order), 0)


def pytest_collection_modifyitems(session, config, items):
    ranked = [(i, _golden_rank(item)) for i, item in enumerate(items)]
    golden = [(rank, i) for i, rank in ranked if rank is not None]
    if not golden:
        return
    # Reorder only the golden cells, keeping each notebook's cells in order, in the slots the
    # golden cells already occupy.
    slots = sorted(i for _, i in golden)
    ordered = [items[i] for _, i in sorted(golden)]
    new = list(items)
    for slot, item in zip(slots, ordered):
        new[slot] = item
    items[:] = new

    from ucf_nb.paths import resolve_path
    from golden_tools import GOLDEN_OUT, GOLDEN_RESULTS

    GOLDEN_RESULTS.clear()
    out = resolve_path(GOLDEN_OUT)
    if out.exists():
        shutil.rmtree(out)
