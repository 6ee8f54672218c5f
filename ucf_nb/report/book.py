"""The run report: execute the pipeline, write the book's intro page, build the book.

The notebooks are executed and cleaned by :mod:`ucf_nb.report.pipeline`; the executed copies go to
``book/executed/`` and the Jupyter Book is built from them as they are. 02 and 03 write one
encoder's run into ``runs_dir/<run_name>/``; extra encoders (the demo runs three families)
are extracted and probed in this process before ``04_compare`` compares every run.

Command line (the Makefile calls these)::

    python -m ucf_nb.report run [--demo DIR] [-p NAME=VALUE ...]   # execute, write book/intro.md
    python -m ucf_nb.report build                                  # jupyter-book build, offline
    python -m ucf_nb.report extract --num-shards N [...]           # SLURM / local tasks (ucf_nb.extract.launch)

(the golden and smoke runs of the tests: ``tests/golden_tools.py``). The intro page is
:func:`write_intro`, a pure function of the run's manifest and probe metrics; everything else
here is I/O at the edges.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..evaluate.heads import get_head
from ..extract import launch  # submitit itself is imported only when a run is submitted
from ..index.annotations import SPLITS
from ..paths import display_path, resolve_path
from ..store.manifest import MANIFEST, read_manifest
from .pipeline import (
    PREPARED_DIR,
    Step,
    apply_overrides,
    demo_extra_runs,
    demo_parameters,
    effective_parameters,
    main_run_dir,
    notebook_problems,
    pipeline_steps,
    prepare_notebooks,
    run_with_extra_runs,
)

__all__ = ["run_report", "write_intro", "write_intro_file", "build_book"]

DEMO_NOTE = (
    "Demo run: every number on these pages comes from a random tiny encoder on "
    "synthetic videos. They show that the pipeline runs end to end, not how well any "
    "model detects anomalies."
)
# 00_build_index parameters the intro page shows next to the index.
INDEX_PARAMETERS_SHOWN = ("clip_len", "stride", "val_fraction", "seed", "label_mode")


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


_HEADLINE = (
    ("frame_auc_test_field", "Frame ROC AUC, test, field protocol (headline)"),
    ("frame_auc_test_field_ci95", "95% CI, bootstrap over test videos"),
    ("frame_far_test_field", "False-alarm rate at 0.5, normal test videos"),
    ("frame_auc_test", "Frame ROC AUC, test, every frame"),
    ("frame_auc_test_ci95", "95% CI, bootstrap over test videos (every frame)"),
    ("frame_far_test", "False-alarm rate at 0.5, normal test videos (every frame)"),
    ("frame_auc_test_anomalous", "Frame ROC AUC, test, anomalous videos only"),
    ("clip_auc_val", "Clip ROC AUC, val"),
    ("clip_auc_test", "Clip ROC AUC, test"),
    ("clip_ap_val", "Clip average precision, val"),
    ("clip_ap_test", "Clip average precision, test"),
    ("video_auc_test", "Video ROC AUC, test"),
)
PROTOCOL_NOTE = (
    "The headline, *field protocol*, is the frame-level ROC AUC as RTFM, UR-DMU and VadCLIP "
    "compute it (annotation frames 0-based, both ends inclusive; only the frames before the "
    "last full 16-frame block of each video, f < 16·floor(n/16)), the number papers report; "
    "*every frame* uses all decoded frames. Both use the same frame scores (the mean of the "
    "clips covering each frame)."
)
MIL_NOTE = (
    "The MIL head (Sultani et al. 2018) is trained on videos with video labels only; its "
    "iteration count is chosen on val, then it is refit on train + val, as the published "
    "protocol trains on the whole official training list."
)


def _scalar_settings(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar settings of a metrics.json: flat (older files) and under ``settings``."""
    out = {
        k: v
        for k, v in metrics.items()
        if k not in dict(_HEADLINE)
        and not isinstance(v, (Mapping, list))
        and not k.startswith(("frame_", "clip_", "video_"))
    }
    nested = metrics.get("settings")
    if isinstance(nested, Mapping):
        out.update({k: v for k, v in nested.items() if not isinstance(v, (Mapping, list)) and v is not None})
    return out


def _setting(value: Any) -> str:
    """A setting as written: floats in their shortest form (0.01, 1e-04), lists comma-joined."""
    if isinstance(value, (list, tuple)):
        return ", ".join(_setting(v) for v in value)
    if isinstance(value, float) and value == value:
        return f"{value:g}"
    if isinstance(value, str) and ("/" in value or "." in value):
        return f"`{value}`"  # paths and file names: code, never broken by the table
    return _fmt(value)


def _split_devices(info: Mapping[str, Any]) -> str | None:
    devices = [sh.get("device") for sh in info.get("shards", []) if isinstance(sh, Mapping) and sh.get("device")]
    return ", ".join(dict.fromkeys(map(str, devices))) or None


def write_intro(
    manifest: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    *,
    metrics_mil: Mapping[str, Any] | None = None,
    dataset_root: str | None = None,
    index_parameters: Mapping[str, Any] | None = None,
    versions: Mapping[str, str] | None = None,
    demo: bool = False,
    title: str = "UCF-Crime clip embeddings: run report",
) -> str:
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
        The linear probe's ``metrics.json``; None when the probe has not run.
    metrics_mil : mapping, optional
        The MIL head's ``metrics.json`` (``probe-mil/``), shown beside the probe's.
    dataset_root : str, optional
        The dataset root the index was built from (``00_build_index``'s parameter).
    index_parameters : mapping, optional
        The other parameters of ``00_build_index`` worth showing (clip_len, stride, ...).
    versions : mapping, optional
        Package -> version (see :func:`ucf_nb.store.manifest.package_versions`); default: the ones the
        extraction recorded in the manifest.
    demo : bool
        Say plainly that the numbers come from the random tiny demo encoder on synthetic videos.

    Returns
    -------
    str
        The page, starting with its ``#`` title.
    """
    if not isinstance(manifest, Mapping):
        raise TypeError(
            f"manifest must be a mapping (the parsed manifest.json), got "
            f"{type(manifest).__name__}; read it with ucf_nb.read_manifest."
        )
    m = manifest
    model: Mapping[str, Any] = m["model"] if isinstance(m.get("model"), Mapping) else {}
    code = lambda v: f"`{v}`" if v is not None else None  # noqa: E731
    parts = [f"# {title}", ""]
    if demo:
        parts += ["```{warning}", DEMO_NOTE, "```", ""]
    parts += [
        "This page is written from the run's manifest and the probe's metrics; the "
        "pages that follow are the notebooks exactly as they ran.",
        "",
    ]

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
    if m.get("views", "center") != "center":  # shown for several views only: a centre run's page is unchanged
        what.append(("Views per clip", f"{m['views']} (emb arrays (N, 10, D); the probes use their mean)"))
    parts += ["## What was run", "", _table(what, ("Setting", "Value")), ""]

    splits = m.get("splits") or {}
    rows: list[tuple[Any, ...]] = []
    for split in [s for s in SPLITS if s in splits] + [s for s in splits if s not in SPLITS]:
        info = splits[split] or {}
        rows.append(
            (
                split,
                info.get("n_clips"),
                info.get("n_done"),
                info.get("n_failed"),
                _split_devices(info),
                _fmt(info.get("seconds"), 1),
                _fmt(info.get("clips_per_s"), 1),
            )
        )
    parts += ["## Extraction", ""]
    parts += [
        _table(rows, ("Split", "Clips", "Embedded", "Failed", "Device", "Time (s)", "Clips/s"))
        if rows
        else "No split has been extracted.",
        "",
    ]
    parts += _failed_clips_warning(splits)

    parts += ["## Probe", ""]
    if metrics:
        heads = [(get_head("linear").title, metrics)] + ([(get_head("mil").title, metrics_mil)] if metrics_mil else [])
        rows = [
            (label, *[_fmt(h.get(key)) for _, h in heads])
            for key, label in _HEADLINE
            if any(key in h for _, h in heads)
        ]
        parts += [_table(rows, ("Metric", *[name for name, _ in heads])), ""]
        parts += _probe_left_out(metrics.get("counts") or {})
        fit_warnings = [w.rstrip(".") + "." for _, h in heads for w in (h.get("warnings") or [])]
        if fit_warnings:  # e.g. every val clip failed: settings not chosen on val
            parts += ["```{warning}", " ".join(fit_warnings), "```", ""]
        if any(k in h for _, h in heads for k in ("frame_auc_test_field", "frame_auc_test")):
            parts += [PROTOCOL_NOTE, ""]
        if metrics_mil:
            parts += [MIL_NOTE, ""]
        for name, h in heads:
            settings = [(f"`{k}`", _setting(v)) for k, v in _scalar_settings(h).items() if v is not None]
            if settings:
                parts += [f"How the {name.lower()} was fitted:", "", _table(settings, ("Setting", "Value")), ""]
    else:
        parts += ["The probe has not run (no `probe/metrics.json`).", ""]

    versions = versions if versions is not None else m.get("versions")
    if versions:
        parts += ["## Software", "", _table(list(versions.items()), ("Package", "Version")), ""]
    return "\n".join(parts).rstrip() + "\n"


def _failed_clips_warning(splits: Mapping[str, Any]) -> list[str]:
    """A warning block when some split has failed (NaN) clips, another when some has short
    clips, else nothing."""
    bad = [(s, e) for s, e in splits.items() if e and int(e.get("n_failed") or 0) > 0]
    short = [(s, e) for s, e in splits.items() if e and int(e.get("n_short") or 0) > 0]
    out = []
    if bad:
        each = "; ".join(f"{s}: {e['n_failed']} of {e.get('n_clips')} clips" for s, e in bad)
        out += [
            "```{warning}",
            f"Some clips could not be embedded ({each}). They are NaN rows, left out of "
            "the probe and its metrics; notebook 02 of each split lists the videos and why.",
            "```",
            "",
        ]
    if short:
        each = "; ".join(f"{s}: {e['n_short']} of {e.get('n_clips')} clips" for s, e in short)
        out += [
            "```{warning}",
            f"Some clips are short ({each}): their video ended before the clip did, so the "
            "last real frame was repeated. Notebook 02 of each split lists the videos; the same command "
            "after the file is fixed embeds them again.",
            "```",
            "",
        ]
    return out


def _probe_left_out(counts: Mapping[str, Any]) -> list[str]:
    """One sentence: per split, how many clips the probe left out (failed, NaN rows)."""
    have = [(s, c) for s, c in counts.items() if isinstance(c, Mapping) and "n_failed" in c]
    if not have:
        return []
    each = ", ".join(f"{s} {int(c['n_failed'])} of {int(c.get('n_clips', 0))}" for s, c in have)
    return [f"Clips left out of the probe because their embedding failed (NaN rows): {each}.", ""]


def write_intro_file(
    out_dir: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    demo: bool = False,
    index_step: Mapping[str, Any] | None = None,
) -> Path:
    """Read ``out_dir``'s manifest and probe metrics and write the intro page to ``dest``.

    ``index_step``: the parameters ``00_build_index`` ran with (dataset root, clip length...).
    """
    out_dir = resolve_path(out_dir)
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"{display_path(manifest_path)} not found: run notebooks/02_extract.ipynb "
            f"(python -m ucf_nb.report run) first."
        )
    manifest = read_manifest(manifest_path)

    metrics_path = out_dir / get_head("linear").folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    mil_path = out_dir / get_head("mil").folder / "metrics.json"
    metrics_mil = json.loads(mil_path.read_text()) if mil_path.is_file() else None
    index_step = dict(index_step or {})
    root = index_step.pop("dataset_root", None)
    shown = {k: index_step[k] for k in INDEX_PARAMETERS_SHOWN if k in index_step}
    text = write_intro(
        manifest,
        metrics,
        metrics_mil=metrics_mil,
        dataset_root=display_path(resolve_path(root)) if root else None,
        index_parameters=shown,
        demo=demo,
    )
    dest = resolve_path(dest)
    dest.write_text(text)
    return dest


def run_report(
    steps: Sequence[Step],
    book_dir: str | os.PathLike = "book",
    *,
    notebooks_dir: str | os.PathLike = "notebooks",
    demo: bool = False,
    log=print,
    progress: bool = False,
    extra_runs: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """Execute a run into ``book_dir/executed`` (emptied first) and write ``book_dir/intro.md``.

    ``extra_runs``: other encoders extracted and probed before ``04_compare`` (see
    :func:`ucf_nb.report.pipeline.run_with_extra_runs`). What a reader must not see in the executed
    notebooks (see :func:`notebook_problems`) is reported through ``log`` as warnings. Returns
    the intro page's path (the intro describes the run 03_probe probed).
    """
    import nbformat

    notebooks_dir, book_dir = resolve_path(notebooks_dir), resolve_path(book_dir)
    dest = book_dir / "executed"
    if dest.exists():
        shutil.rmtree(dest)
    executed = run_with_extra_runs(
        steps, dest, extra_runs=extra_runs, notebooks_dir=notebooks_dir, log=log, progress=progress
    )
    for path in executed:
        for msg in notebook_problems(nbformat.read(path, as_version=4)):
            log(f"warning: {display_path(path)}: {msg}")
    return write_intro_file(
        main_run_dir(steps, notebooks_dir),
        book_dir / "intro.md",
        demo=demo,
        index_step=effective_parameters(steps[0], notebooks_dir),
    )


def build_book(book_dir: str | os.PathLike = "book", *, quiet: bool = False) -> Path:
    """Build the book's HTML with ``jupyter-book build --all -W`` (no notebook is executed).

    Returns the path of ``_build/html/index.html``. Raises with the builder's output when the
    build fails or warns.
    """
    book_dir = resolve_path(book_dir)
    for needed in ("_config.yml", "_toc.yml", "intro.md"):
        if not (book_dir / needed).is_file():
            raise FileNotFoundError(
                f"{display_path(book_dir / needed)} not found: run `python -m ucf_nb.report run` first."
            )
    exe = shutil.which("jupyter-book") or str(Path(sys.executable).parent / "jupyter-book")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [exe, "build", str(book_dir), "--all", "-W", "--builder", "html"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"jupyter-book build {display_path(book_dir)} failed (a warning fails "
            f"the build):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )
    if not quiet:
        print(f"jupyter-book build {display_path(book_dir)} --all -W: no warning ({time.perf_counter() - t0:.1f} s)")
    index = book_dir / "_build" / "html" / "index.html"
    if not index.is_file():
        raise RuntimeError(f"jupyter-book finished but {display_path(index)} is missing.")
    return index


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
        out_dir = resolve_path(params["02_extract"]["index_path"]).parent  # the index and the runs
        if fresh_demo and out_dir.exists():  # a demo run starts from nothing: its outputs are regenerated
            shutil.rmtree(out_dir)
        steps = pipeline_steps(params)
    else:
        steps = pipeline_steps()
    return apply_overrides(steps, _parse_overrides(args.param), notebooks_dir)


def _prepare(args) -> int:
    steps = _cli_steps(args, fresh_demo=False)
    files = prepare_notebooks(steps, args.dest, notebooks_dir=args.notebooks)
    which = f"the demo's parameters ({display_path(resolve_path(args.demo))})" if args.demo else "their defaults"
    print(
        f"{len(files)} notebooks prepared with {which} in {display_path(resolve_path(args.dest))}; "
        f"open them, from the project root, with:\n    jupyter lab {display_path(files[0])}"
    )
    demo_index = None if args.demo is None else demo_parameters(args.demo)["01_index_checks"]["index_path"]
    if demo_index is not None and not resolve_path(demo_index).is_file():
        print(
            f"(run `make demo` first: the demo's outputs are not in {display_path(resolve_path(args.demo))} yet; "
            f"or run the prepared notebooks in order, 00 first)"
        )
    return 0


def _run(args) -> int:
    notebooks_dir = resolve_path(args.notebooks)
    steps = _cli_steps(args, fresh_demo=True)
    extra = demo_extra_runs(args.demo) if args.demo is not None else []
    intro = run_report(
        steps, args.book, notebooks_dir=notebooks_dir, demo=args.demo is not None, progress=True, extra_runs=extra
    )
    print(f"intro page: {display_path(intro)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ucf_nb.report", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="execute the notebooks into BOOK/executed and write BOOK/intro.md")
    p.add_argument(
        "--demo",
        metavar="DIR",
        default=None,
        nargs="?",
        const="demo",
        help="use the demo data and encoder under DIR (written by python -m ucf_nb.demo DIR)",
    )
    p.add_argument("--notebooks", default="notebooks", help="folder of the source notebooks")
    p.add_argument("--book", default="book", help="the book's folder")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="set a notebook parameter in every notebook that has it (repeatable)",
    )
    q = sub.add_parser(
        "prepare", help=f"write the notebooks with parameters injected into {PREPARED_DIR}, to open in Jupyter"
    )
    q.add_argument(
        "--demo",
        metavar="DIR",
        default=None,
        nargs="?",
        const="demo",
        help="use the demo data and encoder under DIR (written by python -m ucf_nb.demo DIR)",
    )
    q.add_argument("--notebooks", default="notebooks", help="folder of the source notebooks")
    q.add_argument("--dest", default=PREPARED_DIR, help="folder for the prepared notebooks (emptied)")
    q.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="set a notebook parameter in every notebook that has it (repeatable)",
    )
    b = sub.add_parser("build", help="build the book's HTML from the executed notebooks (offline, -W)")
    b.add_argument("--book", default="book")

    x = sub.add_parser("extract", help="extract splits as SLURM job arrays or local processes (ucf_nb.extract.launch)")
    x.add_argument(
        "--demo",
        metavar="DIR",
        default=None,
        nargs="?",
        const="demo",
        help="start from the demo run's 02_extract parameters (data and encoder under DIR)",
    )
    launch.add_cli_arguments(x)
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "extract":
            params = dict(demo_parameters(args.demo)["02_extract"]) if args.demo is not None else {}
            return launch.run_cli(args, {**params, **_parse_overrides(args.param)})
        if args.command == "prepare":
            return _prepare(args)
        index = build_book(args.book)
        print(f"book: {index}")
        return 0
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
