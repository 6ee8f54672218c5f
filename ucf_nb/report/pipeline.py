"""The pipeline of notebooks: which run, with which parameters, executed with papermill and cleaned.

A run is the four notebooks executed in order, ``00_build_index`` -> ``01_index_checks`` ->
``02_extract`` (once per split: train, val, test) -> ``03_probe`` (:func:`pipeline_steps`),
each into a folder of executed copies (``02_extract_train.ipynb`` and so on;
:func:`run_notebooks`). The executed copies are cleaned for reading (progress bars collapsed
to their final line, papermill's timing metadata dropped; :func:`clean_notebook`) and then
never executed again: the book is built from them as they are (:mod:`ucf_nb.report.book`).
"""

from __future__ import annotations

import ast
import copy
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..demo.make import DEMO_EXTRA_FAMILIES
from ..evaluate.runs import run_dir, run_encoder
from ..index.annotations import SPLITS
from ..paths import display_path, project_root, resolve_path
from ..progress import text_progress

__all__ = [
    "Step",
    "demo_parameters",
    "demo_extra_runs",
    "pipeline_steps",
    "run_notebooks",
    "run_with_extra_runs",
    "main_run_dir",
    "clean_notebook",
    "notebook_problems",
]

NOTEBOOKS = ("00_build_index", "01_index_checks", "02_extract", "03_probe", "04_compare")
KERNEL_NAME = "python3"


@dataclass(frozen=True)
class Step:
    """One notebook execution: ``notebooks/{notebook}.ipynb`` -> ``{name}.ipynb``."""

    notebook: str
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


def _rel(path: str | os.PathLike) -> str:
    """``path`` as the notebooks should see it: relative to the project root when inside it."""
    return display_path(resolve_path(path))


def demo_parameters(
    demo_dir: str | os.PathLike = "demo", *, out_dir: str | None = None, index_path: str | None = None
) -> dict[str, dict]:
    """The demo parameter set, per notebook: the demo data and encoder under ``demo_dir``.

    ``out_dir`` (default ``{demo_dir}/processed``; runs go to ``{out_dir}/runs/``) and
    ``index_path`` (default ``{out_dir}/index_clips.csv``) let the golden notebooks and the
    tests write elsewhere. Device and precision are pinned (CPU, float32) so that two runs give
    the same numbers; the probe gets the demo's temporal annotation so that frame-level AUCs
    are computed, and a shorter MIL schedule (at most 400 iterations: the demo has 30 training
    videos). The random demo encoder's CLS token carries little of the picture, so the demo pools
    the patch tokens (``pooling="mean"``); a real run keeps the family's default.
    The notebooks run the demo TimeSformer; :func:`demo_extra_runs` are the other families.
    """
    demo = _rel(demo_dir)
    out = _rel(out_dir) if out_dir is not None else f"{demo}/processed"
    index = _rel(index_path) if index_path is not None else f"{out}/index_clips.csv"
    runs = f"{out}/runs"
    annotation = f"{demo}/UCF_Crime/Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    encoder = dict(checkpoint=f"{demo}/encoder", T=8, pooling="mean", run_name="timesformer_T8_mean")
    return {
        "00_build_index": dict(dataset_root=f"{demo}/UCF_Crime", index_path=index, probe_threads=0),
        "01_index_checks": dict(index_path=index),
        "02_extract": dict(
            index_path=index, runs_dir=runs, **encoder, batch_size=8, num_workers=0, device="cpu", precision="fp32"
        ),
        "03_probe": dict(
            runs_dir=runs,
            **encoder,
            mil_params={"max_iter": 400, "eval_every": 50, "patience": 3},
            annotation_path=annotation,
        ),
        "04_compare": dict(runs_dir=runs, annotation_path=annotation, demo=True),
    }


def demo_extra_runs(
    demo_dir: str | os.PathLike = "demo", *, out_dir: str | None = None, index_path: str | None = None
) -> list[dict[str, Any]]:
    """The demo's other encoders, as keyword arguments of :func:`ucf_nb.evaluate.runs.run_encoder`.

    Same index, annotation, T (8, matched frames), device and precision as
    :func:`demo_parameters`; one run per family of ``ucf_nb.demo.DEMO_EXTRA_FAMILIES``, read
    from ``{demo_dir}/encoders/<family>``.
    """
    params = demo_parameters(demo_dir, out_dir=out_dir, index_path=index_path)
    ex, probe = params["02_extract"], params["03_probe"]
    demo = _rel(demo_dir)
    return [
        dict(
            checkpoint=f"{demo}/encoders/{family}",
            index_path=ex["index_path"],
            runs_dir=ex["runs_dir"],
            T=8,
            pooling=None,
            annotation_path=probe["annotation_path"],
            batch_size=ex["batch_size"],
            num_workers=ex["num_workers"],
            device=ex["device"],
            precision=ex["precision"],
            mil_params=probe["mil_params"],
        )
        for family in DEMO_EXTRA_FAMILIES
    ]


def pipeline_steps(parameters: Mapping[str, Mapping[str, Any]] | None = None) -> list[Step]:
    """The run, in order: 00, 01, 02 per split (train, val, test), 03, 04.

    Parameters
    ----------
    parameters : mapping notebook name -> {parameter: value}, optional
        Values papermill injects into each notebook (``split`` is set here for 02). Notebooks
        not named run with their own defaults.
    """
    parameters = parameters or {}
    steps = []
    for nb in NOTEBOOKS:
        params = dict(parameters.get(nb, {}))
        if nb == "02_extract":
            steps += [Step(nb, f"{nb}_{split}", {"split": split, **params}) for split in SPLITS]
        else:
            steps.append(Step(nb, nb, params))
    return steps


def _notebook_defaults(path: Path) -> dict[str, Any]:
    """The names and values assigned in a notebook's ``parameters`` cell (literals; else the source)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(
            f"{display_path(path)} has {len(cells)} cells tagged `parameters`: papermill "
            f"needs exactly one; tag the cell of defaults."
        )
    out = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and node.value is not None:
                    try:
                        out[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        out[target.id] = ast.unparse(node.value)
    return out


def apply_overrides(steps: list[Step], overrides: Mapping[str, Any], notebooks_dir: Path) -> list[Step]:
    """Give each ``NAME=VALUE`` override to every notebook that declares ``NAME``."""
    if not overrides:
        return steps
    if "split" in overrides:
        raise ValueError(
            "-p split=...: a run executes 02_extract once per split (train, val, test); "
            "to extract one split, run notebooks/02_extract.ipynb with papermill directly."
        )
    declared = {nb: _notebook_defaults(notebooks_dir / f"{nb}.ipynb") for nb in NOTEBOOKS}
    unknown = set(overrides) - set().union(*map(set, declared.values()))
    if unknown:
        raise ValueError(
            f"-p {sorted(unknown)[0]}=...: no notebook in {display_path(notebooks_dir)} "
            f"has a parameter of that name; see their `parameters` cells."
        )
    # An old name kept for one release (00's num_workers, now probe_threads) reaches its notebook
    # only when no notebook uses it as a current name: -p num_workers=N means DataLoader workers.
    current = {nb: {k for k in names if k not in RENAMED_PARAMETERS.get(nb, {})} for nb, names in declared.items()}
    in_use = set().union(*current.values())

    def takes(nb: str, name: str) -> bool:
        return name in current[nb] or (name in declared[nb] and name not in in_use)

    return [
        Step(s.notebook, s.name, {**s.parameters, **{k: v for k, v in overrides.items() if takes(s.notebook, k)}})
        for s in steps
    ]


# Notebook parameters renamed in ucf-nb 0.2 (old -> new); the notebooks accept the old names until 0.3.
RENAMED_PARAMETERS = {"00_build_index": {"annotation_file": "annotation_path", "num_workers": "probe_threads"}}


def effective_parameters(step: Step, notebooks_dir: Path) -> dict[str, Any]:
    return {**_notebook_defaults(notebooks_dir / f"{step.notebook}.ipynb"), **step.parameters}


# What is left of a line once a carriage return not followed by a newline rewinds it: the rule
# nbval applies (nbval.plugin.coalesce_streams), so cleaned and fresh outputs compare equal.
_CARRIAGE_RETURN = re.compile(r"^.*\r(?=[^\n])", re.MULTILINE)


# tqdm.auto inside a kernel without ipywidgets warns once, from site-packages (an absolute path
# of the machine), that it falls back to the text bar. The text bar is what we want.
_TQDM_IPROGRESS = re.compile(r"^.*TqdmWarning: IProgress not found.*\n(?:[ \t]+.*\n)?", re.MULTILINE)


INJECTED_CELL_ID = "injected-parameters"


def _coalesce_streams(outputs: list) -> list:
    """Merge a cell's stream outputs by name and apply carriage returns as a terminal would.

    The same rule nbval applies before comparing, so a cleaned notebook compares equal to a
    fresh execution. A progress bar keeps only its final state.
    """
    merged: list[dict[str, Any]] = []
    streams: dict[str, dict[str, Any]] = {}
    for out in outputs:
        if out.get("output_type") == "stream":
            if out["name"] in streams:
                streams[out["name"]]["text"] += out["text"]
                continue
            out = copy.deepcopy(out)
            streams[out["name"]] = out
        merged.append(out)
    for out in streams.values():
        text = _CARRIAGE_RETURN.sub("", out["text"])
        out["text"] = _TQDM_IPROGRESS.sub("", text)
    return [o for o in merged if o.get("output_type") != "stream" or o["text"]]


def clean_notebook(nb):
    """Return a copy of an executed notebook fit for the book and for byte-stable goldens.

    Drops papermill's and nbclient's timing metadata (start/end times, durations, input and
    output paths), gives papermill's injected-parameters cell a fixed id (and folds the
    default ``parameters`` cell it overrides), merges stream outputs per cell and collapses
    carriage-return progress bars to their final line.
    """
    nb = copy.deepcopy(nb)
    params = nb.metadata.get("papermill", {}).get("parameters")
    nb.metadata.pop("papermill", None)
    if params is not None:
        nb.metadata["papermill"] = {"parameters": params}
    injected = any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            cell["id"] = INJECTED_CELL_ID
        elif injected and "parameters" in tags and "hide-input" not in tags:
            # The defaults were overridden by the injected cell below: fold them away.
            cell.metadata["tags"] = [*tags, "hide-input"]
        if cell.cell_type == "code":
            cell.outputs = _coalesce_streams(cell.outputs)
    return nb


def notebook_problems(nb, *, root: str | os.PathLike | None = None) -> list[str]:
    """What a reader must not see in an executed notebook, one sentence each.

    Error outputs (tracebacks), absolute paths of this machine (project root, home folder,
    Python prefix) and leftover carriage returns of progress bars.
    """
    candidates = {
        str(Path(root) if root is not None else project_root()),
        str(Path.home()),
        sys.prefix,
        sys.base_prefix,
    }
    machine_paths = sorted({p for p in candidates if len(p) > 1}, key=len, reverse=True)
    problems = []
    for i, cell in enumerate(nb.cells):
        where = f"cell {i}"
        texts = [cell.source]
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"{where} raised {out.get('ename')}: {out.get('evalue')}")
            if "text" in out:
                texts.append(out["text"])
                if "\r" in out["text"]:
                    problems.append(f"{where} has a raw progress bar (carriage returns) in its {out['name']}")
            for mime, data in out.get("data", {}).items():
                if mime.startswith("text/"):
                    texts.append(data if isinstance(data, str) else "".join(data))
        for text in texts:
            hit = next((p for p in machine_paths if p in text), None)
            if hit:
                problems.append(
                    f"{where} shows the absolute path {hit!r} of this machine; print paths with ucf_nb.display_path"
                )
                break
    return problems


def kernel_manager_class():
    """jupyter_client's kernel manager, set up for unattended runs that print nothing.

    - ipykernel 7 warns "Kernel is running over TCP without encryption" because
      jupyter_client provisions no CurveZMQ keys unless asked (``transport_encryption`` is
      "disabled" by default): ask for them ("auto": when libzmq has CURVE and the kernelspec
      declares it).
    - ``shutdown_kernel`` sends SIGINT to the kernel's process group before its
      shutdown_request (jupyter_client, for kernels stuck in a cell); when it lands while the
      kernel is still handling a message, ipykernel logs "ERROR | KeyboardInterrupt caught in
      kernel" after a run that succeeded. A run's kernel is idle when it is shut down, so the
      shutdown here skips that interrupt; shutdown_request, then SIGTERM and SIGKILL, remain.
    """
    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class RunKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _transport_encryption_default(self) -> str:
            return "auto" if zmq.has("curve") else "disabled"

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return RunKernelManager


def _execute(step: Step, notebooks_dir: Path, dest: Path, *, prepare_only: bool = False) -> Path:
    import nbformat
    import papermill

    src = notebooks_dir / f"{step.notebook}.ipynb"
    if not src.is_file():
        raise FileNotFoundError(
            f"{display_path(src)} not found: the run needs notebooks "
            f"{', '.join(NOTEBOOKS)} in {display_path(notebooks_dir)}."
        )
    out = dest / f"{step.name}.ipynb"
    error = None
    try:
        kwargs = {} if prepare_only else {"kernel_manager_class": kernel_manager_class()}
        with text_progress():
            papermill.execute_notebook(
                str(src),
                str(out),
                parameters=dict(step.parameters),
                kernel_name=KERNEL_NAME,
                progress_bar=False,
                log_output=False,
                prepare_only=prepare_only,
                cwd=str(notebooks_dir),
                **kwargs,
            )
    except papermill.PapermillExecutionError as exc:
        error = exc
    nb = clean_notebook(nbformat.read(out, as_version=4))
    if "split" in step.parameters:  # one page per split: say which in the page's title
        _retitle(nb, f"{step.parameters['split']} split")
    nbformat.write(nb, out)
    if error is not None:
        raise RuntimeError(
            f"{display_path(src)} failed in cell {error.exec_count} with "
            f"{error.ename}: {error.evalue} (executed copy: {display_path(out)})"
        ) from None
    return out


def _retitle(nb, suffix: str) -> None:
    """Append ``: suffix`` to the notebook's first ``#`` heading (its page title)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.split("\n")
            for i, line in enumerate(lines):
                if line.startswith("# ") and not line.rstrip().endswith(suffix):
                    lines[i] = f"{line.rstrip()}: {suffix}"
                    cell.source = "\n".join(lines)
                    return
            return


def run_notebooks(
    steps: Sequence[Step],
    dest: str | os.PathLike = "book/executed",
    *,
    notebooks_dir: str | os.PathLike = "notebooks",
    log=print,
    progress: bool = False,
) -> list[Path]:
    """Execute ``steps`` in order with papermill into ``dest`` and clean the executed copies.

    Logs one line per notebook once it has run (``[2/6] 01_index_checks  3.1 s``); with
    ``progress``, a text bar over the steps on stderr (gone when the run ends). Stops at the
    first notebook that raises, naming it, the failing cell and the executed copy that shows
    the traceback.

    Returns
    -------
    list of pathlib.Path
        The executed notebooks, in run order.
    """
    notebooks_dir, dest = resolve_path(notebooks_dir), resolve_path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    import sys
    import time

    from tqdm import tqdm

    done = []
    width = max((len(s.name) for s in steps), default=0)
    with tqdm(
        total=len(steps), desc="notebooks", unit="notebook", leave=False, disable=not progress, file=sys.stderr
    ) as bar:
        for i, step in enumerate(steps, 1):
            bar.set_postfix_str(step.name, refresh=True)
            t0 = time.perf_counter()
            done.append(_execute(step, notebooks_dir, dest))
            line = f"[{i}/{len(steps)}] {step.name:<{width}}  {time.perf_counter() - t0:5.1f} s"
            if progress and log is print:
                bar.write(line)
            else:
                log(line)
            bar.update()
    return done


PREPARED_DIR = "build/prepared"  # git-ignored: notebooks with parameters injected, for Jupyter


def prepare_notebooks(
    steps: Sequence[Step], dest: str | os.PathLike = PREPARED_DIR, *, notebooks_dir: str | os.PathLike = "notebooks"
) -> list[Path]:
    """Write each step's notebook with its parameters injected (papermill ``prepare_only``).

    Nothing is executed: the copies in ``dest`` are for opening in Jupyter (``jupyter lab``)
    and running top to bottom there; every path in them resolves against the project root.
    ``dest`` is emptied first. Returns the prepared notebooks, in run order.
    """
    import shutil

    notebooks_dir, dest = resolve_path(notebooks_dir), resolve_path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    return [_execute(step, notebooks_dir, dest, prepare_only=True) for step in steps]


def main_run_dir(steps: Sequence[Step], notebooks_dir: str | os.PathLike = "notebooks") -> str:
    """The run folder 03_probe of ``steps`` probes (the one the intro page describes)."""
    probe = next((s for s in steps if s.notebook == "03_probe"), None)
    if probe is None:
        raise ValueError("the steps have no 03_probe: nothing says which run the intro page describes")
    p = effective_parameters(probe, resolve_path(notebooks_dir))
    return run_dir(
        p["checkpoint"],
        T=p.get("T"),
        pooling=p.get("pooling"),
        name=p.get("run_name"),
        root=p["runs_dir"],
        views=p.get("views") or "center",
    )


def run_with_extra_runs(
    steps: Sequence[Step],
    dest: str | os.PathLike,
    *,
    extra_runs: Sequence[Mapping[str, Any]] = (),
    notebooks_dir: str | os.PathLike = "notebooks",
    log=print,
    progress: bool = False,
) -> list[Path]:
    """Execute ``steps`` into ``dest``, with ``extra_runs`` (keyword arguments of
    :func:`ucf_nb.evaluate.runs.run_encoder`) extracted and probed after 03 and before 04_compare."""
    cut = next((i for i, s in enumerate(steps) if s.notebook == "04_compare"), len(steps))
    executed = run_notebooks(steps[:cut], dest, notebooks_dir=notebooks_dir, log=log, progress=progress)
    for kwargs in extra_runs:
        log(f"extra run: {kwargs['checkpoint']}")
        out = run_encoder(**kwargs, progress=False)
        log(f"extra run: {kwargs['checkpoint']} -> {out}")
    if cut < len(steps):
        executed += run_notebooks(steps[cut:], dest, notebooks_dir=notebooks_dir, log=log, progress=progress)
    return executed
