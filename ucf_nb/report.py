"""The run report: execute the notebooks with papermill, write the book's intro page, build the book.

A run is the four notebooks executed in order, ``00_build_index`` -> ``01_index_checks`` ->
``02_extract`` (once per split: train, val, test) -> ``03_probe``, each into
``book/executed/`` (``02_extract_train.ipynb`` and so on). The executed copies are cleaned
for reading (progress bars collapsed to their final line, papermill's timing metadata
dropped) and then never executed again: the Jupyter Book is built from them as they are.

Command line (the Makefile calls these)::

    python -m ucf_nb.report run [--demo DIR] [-p NAME=VALUE ...]   # execute, write book/intro.md
    python -m ucf_nb.report build                                  # jupyter-book build, offline
    python -m ucf_nb.report regold [--demo DIR]                    # rewrite tests/golden/*.ipynb
    python -m ucf_nb.report smoke [--demo DIR]                     # notebooks/ under nbval-lax
    python -m ucf_nb.report prepare [--demo DIR] [-p NAME=VALUE ...]  # copies to open in Jupyter

The intro page is :func:`write_intro`, a pure function of the run's manifest and probe
metrics; everything else here is I/O at the edges.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import display_path, project_root, resolve_path
from .progress import text_progress

__all__ = ["Step", "demo_parameters", "pipeline_steps", "run_notebooks", "run_report", "prepare_notebooks",
           "clean_notebook", "notebook_problems", "write_intro", "write_intro_file",
           "build_book"]

NOTEBOOKS = ("00_build_index", "01_index_checks", "02_extract", "03_probe")
SPLITS = ("train", "val", "test")
KERNEL_NAME = "python3"
GOLDEN_DIR = "tests/golden"
GOLDEN_OUT = "build/golden/processed"
SMOKE_DIR = "build/smoke"
PREPARED_DIR = "build/prepared"  # git-ignored: notebooks with parameters injected, for Jupyter
SANITIZE_FILE = "tests/golden/sanitize.cfg"
DEMO_NOTE = ("Demo run: every number on these pages comes from a random tiny encoder on "
             "synthetic videos. They show that the pipeline runs end to end, not how well any "
             "model detects anomalies.")
# Notebook parameters renamed in ucf-nb 0.2 (old -> new); the notebooks accept the old names until 0.3.
RENAMED_PARAMETERS = {"00_build_index": {"annotation_file": "annotation_path", "num_workers": "probe_threads"}}
# 00_build_index parameters the intro page shows next to the index.
INDEX_PARAMETERS_SHOWN = ("clip_len", "stride", "val_fraction", "seed", "label_mode")


# --- which notebooks run, with which parameters ---------------------------------------------

@dataclass(frozen=True)
class Step:
    """One notebook execution: ``notebooks/{notebook}.ipynb`` -> ``{name}.ipynb``."""

    notebook: str
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


def _rel(path: str | os.PathLike) -> str:
    """``path`` as the notebooks should see it: relative to the project root when inside it."""
    return display_path(resolve_path(path))


def demo_parameters(demo_dir: str | os.PathLike = "demo", *,
                    out_dir: str | None = None, index_path: str | None = None) -> dict[str, dict]:
    """The demo parameter set, per notebook: the demo data and encoder under ``demo_dir``.

    ``out_dir`` (default ``{demo_dir}/processed``) and ``index_path`` (default
    ``{out_dir}/index_clips.csv``) let the golden notebooks and the tests write elsewhere.
    Device and precision are pinned (CPU, float32) so that two runs give the same numbers; the
    probe gets the demo's temporal annotation so that frame-level AUCs are computed. The
    random demo encoder's CLS token carries little of the picture, so the demo pools the
    patch tokens (``pooling="mean"``); a real run keeps the default, ``"cls"``.
    """
    demo = _rel(demo_dir)
    out = _rel(out_dir) if out_dir is not None else f"{demo}/processed"
    index = _rel(index_path) if index_path is not None else f"{out}/index_clips.csv"
    return {
        "00_build_index": dict(dataset_root=f"{demo}/UCF_Crime", index_path=index, probe_threads=0),
        "01_index_checks": dict(index_path=index),
        "02_extract": dict(index_path=index, out_dir=out, checkpoint=f"{demo}/encoder",
                           batch_size=8, num_workers=0, device="cpu", precision="fp32",
                           pooling="mean"),
        "03_probe": dict(out_dir=out,
                         annotation_path=f"{demo}/UCF_Crime/Temporal_Anomaly_Annotation_for_Testing_Videos.txt"),
    }


def pipeline_steps(parameters: Mapping[str, Mapping[str, Any]] | None = None) -> list[Step]:
    """The run, in order: 00, 01, 02 per split (train, val, test), 03.

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
        raise ValueError(f"{display_path(path)} has {len(cells)} cells tagged `parameters`: papermill "
                         f"needs exactly one; tag the cell of defaults.")
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


def _apply_overrides(steps: list[Step], overrides: Mapping[str, Any], notebooks_dir: Path) -> list[Step]:
    """Give each ``NAME=VALUE`` override to every notebook that declares ``NAME``."""
    if not overrides:
        return steps
    if "split" in overrides:
        raise ValueError("-p split=...: a run executes 02_extract once per split (train, val, test); "
                         "to extract one split, run notebooks/02_extract.ipynb with papermill directly.")
    declared = {nb: _notebook_defaults(notebooks_dir / f"{nb}.ipynb") for nb in NOTEBOOKS}
    unknown = set(overrides) - set().union(*map(set, declared.values()))
    if unknown:
        raise ValueError(f"-p {sorted(unknown)[0]}=...: no notebook in {display_path(notebooks_dir)} "
                         f"has a parameter of that name; see their `parameters` cells.")
    # An old name kept for one release (00's num_workers, now probe_threads) reaches its notebook
    # only when no notebook uses it as a current name: -p num_workers=N means DataLoader workers.
    current = {nb: {k for k in names if k not in RENAMED_PARAMETERS.get(nb, {})} for nb, names in declared.items()}
    in_use = set().union(*current.values())

    def takes(nb: str, name: str) -> bool:
        return name in current[nb] or (name in declared[nb] and name not in in_use)

    return [Step(s.notebook, s.name, {**s.parameters,
                                      **{k: v for k, v in overrides.items() if takes(s.notebook, k)}})
            for s in steps]


def _effective(step: Step, notebooks_dir: Path) -> dict[str, Any]:
    return {**_notebook_defaults(notebooks_dir / f"{step.notebook}.ipynb"), **step.parameters}


# --- executed notebooks: clean for reading, check ---------------------------------------------

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
    merged, streams = [], {}
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
    machine_paths = {str(Path(root) if root is not None else project_root()),
                     str(Path.home()), sys.prefix, sys.base_prefix}
    machine_paths = sorted({p for p in machine_paths if len(p) > 1}, key=len, reverse=True)
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
                problems.append(f"{where} shows the absolute path {hit!r} of this machine; print "
                                f"paths with ucf_nb.display_path")
                break
    return problems


def _kernel_manager_class():
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
        raise FileNotFoundError(f"{display_path(src)} not found: the run needs notebooks "
                                f"{', '.join(NOTEBOOKS)} in {display_path(notebooks_dir)}.")
    out = dest / f"{step.name}.ipynb"
    error = None
    try:
        kwargs = {} if prepare_only else {"kernel_manager_class": _kernel_manager_class()}
        with text_progress():
            papermill.execute_notebook(str(src), str(out), parameters=dict(step.parameters),
                                       kernel_name=KERNEL_NAME, progress_bar=False, log_output=False,
                                       prepare_only=prepare_only, cwd=str(notebooks_dir), **kwargs)
    except papermill.PapermillExecutionError as exc:
        error = exc
    nb = clean_notebook(nbformat.read(out, as_version=4))
    if "split" in step.parameters:  # one page per split: say which in the page's title
        _retitle(nb, f"{step.parameters['split']} split")
    nbformat.write(nb, out)
    if error is not None:
        raise RuntimeError(f"{display_path(src)} failed in cell {error.exec_count} with "
                           f"{error.ename}: {error.evalue} (executed copy: {display_path(out)})") from None
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


def run_notebooks(steps: Sequence[Step], dest: str | os.PathLike = "book/executed", *,
                  notebooks_dir: str | os.PathLike = "notebooks", log=print,
                  progress: bool = False) -> list[Path]:
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
    from tqdm import tqdm

    done = []
    width = max((len(s.name) for s in steps), default=0)
    with tqdm(total=len(steps), desc="notebooks", unit="notebook", leave=False, disable=not progress,
              file=sys.stderr) as bar:
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


# --- the intro page ---------------------------------------------------------------------------

def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.{digits}f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_fmt(v, digits)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in value)
    return str(value)


def _cell(value: Any) -> str:
    return _fmt(value).replace("|", "\\|").replace("\n", " ")


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _get(mapping: Mapping | None, *keys: str, default: Any = None) -> Any:
    """First present key among ``keys`` (each may be dotted: ``"encoder.revision"``)."""
    for key in keys:
        node: Any = mapping
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                node = None
                break
            node = node[part]
        if node is not None:
            return node
    return default


_HEADLINE = (("clip_auc_val", "Clip ROC AUC, val"), ("clip_auc_test", "Clip ROC AUC, test"),
             ("clip_ap_val", "Clip average precision, val"), ("clip_ap_test", "Clip average precision, test"),
             ("video_auc_test", "Video ROC AUC, test"), ("frame_auc_test", "Frame ROC AUC, test"),
             ("frame_auc_test_anomalous", "Frame ROC AUC, test, anomalous videos only"))


# A scalar metric of metrics.json: {clip,video,frame}_{auc,ap}_{split}[_{variant}].
_METRIC_KEY = re.compile(r"^(clip|video|frame)_(auc|ap)_(train|val|test)(?:_(\w+))?$")
_METRIC_WORDS = {"auc": "ROC AUC", "ap": "average precision"}
_VARIANT_WORDS = {"mean": "videos scored by the mean of their clips",
                  "anomalous": "anomalous videos only"}


def _metric_label(key: str) -> str | None:
    """``video_auc_test_mean`` -> "Video ROC AUC, test, videos scored by the mean of their clips"."""
    match = _METRIC_KEY.match(key)
    if not match:
        return None
    level, kind, split, variant = match.groups()
    label = f"{level.capitalize()} {_METRIC_WORDS[kind]}, {split}"
    return f"{label}, {_VARIANT_WORDS.get(variant, variant)}" if variant else label


def _setting(value: Any) -> str:
    """A setting as written: floats in their shortest form (0.01, 1e-04), lists comma-joined."""
    if isinstance(value, (list, tuple)):
        return ", ".join(_setting(v) for v in value)
    if isinstance(value, float) and value == value:
        return f"{value:g}"
    if isinstance(value, str) and ("/" in value or "." in value):
        return f"`{value}`"  # paths and file names: code, never broken by the table
    return _fmt(value)


def _probe_scores_and_settings(metrics: Mapping[str, Any]) -> tuple[list[tuple], list[tuple]]:
    """The probe's scalar metrics (headline ones first) and its settings, as table rows.

    Settings are the other scalar (or list-of-scalars) entries; values that are None are
    left out, and nested records (per-category AUCs, counts, timing) are shown by notebook 03.
    """
    headline = dict(_HEADLINE)
    scores = [(label, _fmt(metrics[key])) for key, label in _HEADLINE if key in metrics]
    settings = []
    for key, value in metrics.items():
        if key in headline or value is None or isinstance(value, Mapping):
            continue
        if isinstance(value, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple)) for v in value):
            continue
        label = _metric_label(key)
        if label is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            scores.append((label, _fmt(value)))
        else:
            settings.append((f"`{key}`", _setting(value)))
    return scores, settings


def _split_devices(info: Mapping[str, Any]) -> str | None:
    devices = [sh.get("device") for sh in info.get("shards", []) if isinstance(sh, Mapping) and sh.get("device")]
    return ", ".join(dict.fromkeys(devices)) or None


def write_intro(manifest: Mapping[str, Any], metrics: Mapping[str, Any] | None = None, *,
                dataset_root: str | None = None, index_parameters: Mapping[str, Any] | None = None,
                versions: Mapping[str, str] | None = None, demo: bool = False,
                title: str = "UCF-Crime clip embeddings: run report") -> str:
    """Write the book's intro page (MyST markdown) for one run.

    Pure: everything shown comes from the arguments.

    Parameters
    ----------
    manifest : mapping
        The extraction manifest (``out_dir/manifest.json``, see :func:`ucf_nb.read_manifest`):
        index path and SHA-256, encoder checkpoint and revision, T, image size, pooling,
        preprocessing, precision, and per split the clip counts, extraction seconds and clips
        per second.
    metrics : mapping, optional
        The probe's ``metrics.json``; None when the probe has not run.
    dataset_root : str, optional
        The dataset root the index was built from (``00_build_index``'s parameter).
    index_parameters : mapping, optional
        The other parameters of ``00_build_index`` worth showing (clip_len, stride, ...).
    versions : mapping, optional
        Package -> version (see :func:`ucf_nb.store.package_versions`); default: the ones the
        extraction recorded in the manifest.
    demo : bool
        Say plainly that the numbers come from the random tiny demo encoder on synthetic videos.

    Returns
    -------
    str
        The page, starting with its ``#`` title.
    """
    if not isinstance(manifest, Mapping):
        raise TypeError(f"manifest must be a mapping (the parsed manifest.json), got "
                        f"{type(manifest).__name__}; read it with ucf_nb.read_manifest.")
    m = manifest
    model = m.get("model") if isinstance(m.get("model"), Mapping) else {}
    code = lambda v: f"`{v}`" if v is not None else None  # noqa: E731
    parts = [f"# {title}", ""]
    if demo:
        parts += ["```{warning}", DEMO_NOTE, "```", ""]
    parts += ["This page is written from the run's manifest and the probe's metrics; the "
              "pages that follow are the notebooks exactly as they ran.", ""]

    what = [
        ("Dataset root", code(dataset_root)),
        ("Clip index", code(_get(m, "index.path"))),
        ("Index SHA-256", code(_get(m, "index.sha256"))),
        ("Index parameters", index_parameters or None),
        ("Encoder checkpoint", code(model.get("checkpoint"))),
        ("Encoder revision", code(model.get("revision")) or "none (a local folder)"),
        ("Model type", model.get("model_type")),
        ("Embedding dimension", m.get("embedding_dim")),
        ("Pooling", m.get("pooling")),
        ("Frames per clip (T)", m.get("T")),
        ("Image size (pixels)", m.get("img_size")),
        ("Preprocessing", m.get("preprocessing")),
        ("Precision", m.get("precision")),
    ]
    parts += ["## What was run", "", _table(what, ("Setting", "Value")), ""]

    splits = m.get("splits") or {}
    rows = []
    for split in [s for s in SPLITS if s in splits] + [s for s in splits if s not in SPLITS]:
        info = splits[split] or {}
        rows.append((split, info.get("n_clips"), info.get("n_done"), info.get("n_failed"),
                     _split_devices(info), _fmt(info.get("seconds"), 1), _fmt(info.get("clips_per_s"), 1)))
    parts += ["## Extraction", ""]
    parts += [_table(rows, ("Split", "Clips", "Embedded", "Failed", "Device", "Time (s)", "Clips/s")) if rows
              else "No split has been extracted.", ""]

    parts += ["## Probe", ""]
    if metrics:
        scores, settings = _probe_scores_and_settings(metrics)
        if scores:
            parts += [_table(scores, ("Metric", "Value")), ""]
        if settings:
            parts += ["How the probe was fitted:", "", _table(settings, ("Setting", "Value")), ""]
    else:
        parts += ["The probe has not run (no `probe/metrics.json`).", ""]

    versions = versions if versions is not None else m.get("versions")
    if versions:
        parts += ["## Software", "", _table(list(versions.items()), ("Package", "Version")), ""]
    return "\n".join(parts).rstrip() + "\n"


def write_intro_file(out_dir: str | os.PathLike, dest: str | os.PathLike, *, demo: bool = False,
                     index_step: Mapping[str, Any] | None = None) -> Path:
    """Read ``out_dir``'s manifest and probe metrics and write the intro page to ``dest``.

    ``index_step``: the parameters ``00_build_index`` ran with (dataset root, clip length...).
    """
    out_dir = resolve_path(out_dir)
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{display_path(manifest_path)} not found: run notebooks/02_extract.ipynb "
                                f"(python -m ucf_nb.report run) first.")
    manifest = json.loads(manifest_path.read_text())
    metrics_path = out_dir / "probe" / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    index_step = dict(index_step or {})
    root = index_step.pop("dataset_root", None)
    shown = {k: index_step[k] for k in INDEX_PARAMETERS_SHOWN if k in index_step}
    text = write_intro(manifest, metrics, dataset_root=display_path(resolve_path(root)) if root else None,
                       index_parameters=shown, demo=demo)
    dest = resolve_path(dest)
    dest.write_text(text)
    return dest


def run_report(steps: Sequence[Step], book_dir: str | os.PathLike = "book", *,
               notebooks_dir: str | os.PathLike = "notebooks", demo: bool = False, log=print,
               progress: bool = False) -> Path:
    """Execute a run into ``book_dir/executed`` (emptied first) and write ``book_dir/intro.md``.

    What a reader must not see in the executed notebooks (see :func:`notebook_problems`) is
    reported through ``log`` as warnings. Returns the intro page's path.
    """
    import nbformat

    notebooks_dir, book_dir = resolve_path(notebooks_dir), resolve_path(book_dir)
    dest = book_dir / "executed"
    if dest.exists():
        shutil.rmtree(dest)
    executed = run_notebooks(steps, dest, notebooks_dir=notebooks_dir, log=log, progress=progress)
    for path in executed:
        for msg in notebook_problems(nbformat.read(path, as_version=4)):
            log(f"warning: {display_path(path)}: {msg}")
    out_dir = _effective(steps[-1], notebooks_dir)["out_dir"]
    return write_intro_file(out_dir, book_dir / "intro.md", demo=demo,
                            index_step=_effective(steps[0], notebooks_dir))


# --- the book ---------------------------------------------------------------------------------

def build_book(book_dir: str | os.PathLike = "book", *, quiet: bool = False) -> Path:
    """Build the book's HTML with ``jupyter-book build --all -W`` (no notebook is executed).

    Returns the path of ``_build/html/index.html``. Raises with the builder's output when the
    build fails or warns.
    """
    book_dir = resolve_path(book_dir)
    for needed in ("_config.yml", "_toc.yml", "intro.md"):
        if not (book_dir / needed).is_file():
            raise FileNotFoundError(f"{display_path(book_dir / needed)} not found: run "
                                    f"`python -m ucf_nb.report run` first.")
    exe = shutil.which("jupyter-book") or str(Path(sys.executable).parent / "jupyter-book")
    t0 = time.perf_counter()
    proc = subprocess.run([exe, "build", str(book_dir), "--all", "-W", "--builder", "html"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build {display_path(book_dir)} failed (a warning fails "
                           f"the build):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    if not quiet:
        print(f"jupyter-book build {display_path(book_dir)} --all -W: no warning "
              f"({time.perf_counter() - t0:.1f} s)")
    index = book_dir / "_build" / "html" / "index.html"
    if not index.is_file():
        raise RuntimeError(f"jupyter-book finished but {display_path(index)} is missing.")
    return index


# --- command line -----------------------------------------------------------------------------

def _parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise SystemExit(f"-p {item!r}: expected NAME=VALUE, e.g. -p device=cuda")
        try:
            out[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[name] = value
    return out


def _cli_steps(args, *, fresh_demo: bool) -> list[Step]:
    """The run's steps from ``--demo`` and ``-p``; ``fresh_demo`` empties the demo's out_dir."""
    notebooks_dir = resolve_path(args.notebooks)
    if args.demo is not None:
        params = demo_parameters(args.demo)
        out_dir = resolve_path(params["03_probe"]["out_dir"])
        if fresh_demo and out_dir.exists():  # a demo run starts from nothing: its outputs are regenerated
            shutil.rmtree(out_dir)
        steps = pipeline_steps(params)
    else:
        steps = pipeline_steps()
    return _apply_overrides(steps, _parse_overrides(args.param), notebooks_dir)


def prepare_notebooks(steps: Sequence[Step], dest: str | os.PathLike = PREPARED_DIR, *,
                      notebooks_dir: str | os.PathLike = "notebooks") -> list[Path]:
    """Write each step's notebook with its parameters injected (papermill ``prepare_only``).

    Nothing is executed: the copies in ``dest`` are for opening in Jupyter (``jupyter lab``)
    and running top to bottom there; every path in them resolves against the project root.
    ``dest`` is emptied first. Returns the prepared notebooks, in run order.
    """
    notebooks_dir, dest = resolve_path(notebooks_dir), resolve_path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    return [_execute(step, notebooks_dir, dest, prepare_only=True) for step in steps]


def _prepare(args) -> int:
    steps = _cli_steps(args, fresh_demo=False)
    files = prepare_notebooks(steps, args.dest, notebooks_dir=args.notebooks)
    which = f"the demo's parameters ({display_path(resolve_path(args.demo))})" if args.demo else "their defaults"
    print(f"{len(files)} notebooks prepared with {which} in {display_path(resolve_path(args.dest))}; "
          f"open them, from the project root, with:\n    jupyter lab {display_path(files[0])}")
    if args.demo is not None and not resolve_path(demo_parameters(args.demo)["01_index_checks"]["index_path"]).is_file():
        print(f"(run `make demo` first: the demo's outputs are not in {display_path(resolve_path(args.demo))} yet; "
              f"or run the prepared notebooks in order, 00 first)")
    return 0


def _run(args) -> int:
    notebooks_dir = resolve_path(args.notebooks)
    steps = _cli_steps(args, fresh_demo=True)
    intro = run_report(steps, args.book, notebooks_dir=notebooks_dir, demo=args.demo is not None,
                       progress=True)
    print(f"intro page: {display_path(intro)}")
    return 0


def _regold(args) -> int:
    """Execute the demo into tests/golden with outputs in build/golden, sanitized for nbval."""
    import nbformat

    golden, out = resolve_path(GOLDEN_DIR), resolve_path(GOLDEN_OUT)
    if out.exists():
        shutil.rmtree(out)
    params = demo_parameters(args.demo, out_dir=GOLDEN_OUT)
    for old in golden.glob("*.ipynb"):
        old.unlink()
    executed = run_notebooks(pipeline_steps(params), golden, notebooks_dir=args.notebooks)
    patterns = read_sanitize_patterns(resolve_path(SANITIZE_FILE))
    for path in executed:
        nb = sanitize_notebook(nbformat.read(path, as_version=4), patterns)
        nbformat.write(nb, path)
        for msg in notebook_problems(nb):
            print(f"warning: {display_path(path)}: {msg}", file=sys.stderr)
    print(f"golden notebooks: {display_path(golden)} ({len(executed)} files)")
    return 0


def _smoke(args) -> int:
    """Inject the demo parameters into copies of notebooks/ and run them under nbval-lax."""
    smoke = resolve_path(SMOKE_DIR)
    if smoke.exists():
        shutil.rmtree(smoke)
    smoke.mkdir(parents=True)
    params = demo_parameters(args.demo, out_dir=f"{SMOKE_DIR}/processed")
    notebooks_dir = resolve_path(args.notebooks)
    files = [_execute(step, notebooks_dir, smoke, prepare_only=True) for step in pipeline_steps(params)]
    # pytest keeps the order of its arguments: the notebooks run in pipeline order.
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
           "--rootdir", str(smoke), "-q", *map(str, files)]
    with text_progress():  # the kernels nbval starts draw text bars, as in the book
        return subprocess.call(cmd, cwd=project_root())


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
    parser = argparse.ArgumentParser(prog="python -m ucf_nb.report", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("run", "execute the notebooks into BOOK/executed and write BOOK/intro.md"),
                        ("prepare", f"write the notebooks with parameters injected into {PREPARED_DIR}, "
                                    "to open in Jupyter"),
                        ("regold", "rewrite the golden notebooks under tests/golden from the demo"),
                        ("smoke", "run the source notebooks on the demo data under pytest --nbval-lax")):
        p = sub.add_parser(name, help=help_)
        optional = name in ("run", "prepare")
        p.add_argument("--demo", metavar="DIR", default=None if optional else "demo",
                       nargs="?" if optional else None, const="demo" if optional else None,
                       help="use the demo data and encoder under DIR (written by python -m ucf_nb.demo DIR)")
        p.add_argument("--notebooks", default="notebooks", help="folder of the source notebooks")
        if name == "run":
            p.add_argument("--book", default="book", help="the book's folder")
        if name == "prepare":
            p.add_argument("--dest", default=PREPARED_DIR, help="folder for the prepared notebooks (emptied)")
        if optional:
            p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                           help="set a notebook parameter in every notebook that has it (repeatable)")
    b = sub.add_parser("build", help="build the book's HTML from the executed notebooks (offline, -W)")
    b.add_argument("--book", default="book")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "build":
            index = build_book(args.book)
            print(f"book: {index}")
            return 0
        if args.command == "regold":
            return _regold(args)
        if args.command == "prepare":
            return _prepare(args)
        return _smoke(args)
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
