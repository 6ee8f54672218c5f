"""Heads on clip embeddings: run a registered head (linear, MIL, ...) over a finished extraction.

The heads are registered in :mod:`ucf_nb.evaluate.heads` (:func:`ucf_nb.heads`); their models
live in :mod:`ucf_nb.evaluate.linear` (:func:`fit_probe`, :class:`LinearProbe`) and
:mod:`ucf_nb.evaluate.mil`; the metrics are pure functions in :mod:`ucf_nb.evaluate.metrics` and
:mod:`ucf_nb.evaluate.field`.

- :func:`run_probe`: reads a run's embeddings with :func:`ucf_nb.load_embeddings`, fits,
  scores val and test, and writes ``out_dir/probe/metrics.json`` and
  ``out_dir/probe/scores_{split}.csv``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..checks import check_bool, check_int
from ..files import atomic_write_csv, atomic_write_json, file_sha256
from ..index.annotations import read_temporal_annotation
from ..paths import display_path, resolve_path
from ..store.arrays import load_embeddings
from ..store.manifest import package_versions, read_manifest
from .heads import get_head, heads, video_bags
from .linear import DEFAULT_CS, LinearProbe, finite_rows, fit_probe  # noqa: F401 (also ucf_nb.probe.*)
from .metrics import FRAME_KEYS, SCORED_SPLITS, evaluate_probe

if TYPE_CHECKING:
    from .mil import MILParams

__all__ = [
    "ProbeResult",
    "run_probe",
    "METRIC_KEYS",
    "HEADS",
    "metrics_frame",
    "compare_heads",
    "ProbeWarnings",
    "probe_warnings",
    "probe_fingerprint",
]

METRIC_KEYS = (
    (
        "clip_auc_val",
        "clip_auc_test",
        "clip_ap_val",
        "clip_ap_test",
        "video_auc_test",
        "video_auc_test_mean",
        "video_auc_val",
        "video_auc_val_mean",
    )
    + FRAME_KEYS
    + ("per_category_auc_test", "per_category_auc_val")
)
"""The metric keys of ``metrics.json``, the same for every head."""

HEADS = ("linear", "mil")
"""The built-in heads (:func:`ucf_nb.heads` lists every registered one, these first)."""

HEADLINE_ROWS = (
    ("frame_auc_test_field", "frame AUC, field protocol"),
    ("frame_auc_test_field_ci95", "  95% CI"),
    ("frame_far_test_field", "  false alarms at 0.5"),
    ("frame_auc_test", "frame AUC, every frame"),
    ("frame_auc_test_ci95", "  95% CI"),
    ("frame_far_test", "  false alarms at 0.5"),
    ("frame_auc_test_anomalous", "frame AUC, anomalous videos"),
    ("frame_auc_test_anomalous_ci95", "  95% CI"),
    ("clip_auc", "clip ROC AUC"),
    ("clip_ap", "clip average precision"),
    ("video_auc", "video ROC AUC (max of clips)"),
    ("video_auc_mean", "video ROC AUC (mean of clips)"),
)
"""Rows of :func:`metrics_frame`: the field protocol (frames before the last full 16-frame
block, the headline), every frame, the anomalous test videos; CIs are 95% bootstrap intervals
over test videos, false alarms the share of normal test videos' frames scored >= 0.5."""


def _cell(value: Any, digits: int = 4) -> Any:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return f"[{value[0]:.{digits}f}, {value[1]:.{digits}f}]"
    if isinstance(value, float):
        return round(value, digits)
    return value


def metrics_frame(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """One head's headline metrics as a table: rows metric, columns val and test.

    The frame-level rows (test only) come first, the field protocol's AUC at the top; CIs are
    shown as ``[low, high]`` strings.
    """
    rows = []
    for key, label in HEADLINE_ROWS:
        if key.startswith("frame_"):
            rows.append((label, None, _cell(metrics.get(key))))
        else:
            val_key = f"{key}_val" if not key.endswith("_mean") else key.replace("_mean", "_val_mean")
            test_key = f"{key}_test" if not key.endswith("_mean") else key.replace("_mean", "_test_mean")
            rows.append((label, _cell(metrics.get(val_key)), _cell(metrics.get(test_key))))
    return pd.DataFrame(rows, columns=["metric", "val", "test"]).set_index("metric")


def compare_heads(metrics_by_head: Mapping[str, Mapping[str, Any]], split: str = "test") -> pd.DataFrame:
    """The headline metrics of several heads side by side (rows metric, one column per head).

    Parameters
    ----------
    metrics_by_head : mapping head name -> metrics (``metrics.json`` content)
    split : {"test", "val"}
        Which column of :func:`metrics_frame` to show (frame-level metrics are test only).
    """
    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got split={split!r}")
    cols = {head: metrics_frame(m)[split] for head, m in metrics_by_head.items()}
    return pd.DataFrame(cols)


@dataclass
class ProbeResult:
    """What :func:`run_probe` computed and wrote.

    Attributes
    ----------
    metrics : dict
        The content of ``metrics.json``.
    scores : dict split -> pandas.DataFrame
        Index rows (index = index row numbers) of val and test with a ``score`` column
        (the head's anomaly score in [0, 1], NaN for failed clips).
    probe : LinearProbe or MILHead
        The fitted head (for ``head="mil"``: the head refit on train + val).
    intervals : dict or None
        The temporal annotation used (video -> half-open intervals).
    paths : dict
        ``metrics`` and ``scores_{split}`` -> written file.
    reused : bool
        True when nothing was fitted: the result was read back from a ``metrics.json`` with
        the same fingerprint (``probe`` is then None).
    """

    metrics: dict
    scores: dict
    probe: Any
    intervals: dict | None
    paths: dict
    reused: bool = False

    @property
    def head(self) -> str:
        return str(self.metrics.get("head", "linear"))

    @property
    def missing_reasons(self) -> dict[str, str]:
        return dict(self.metrics.get("missing_reasons", {}))

    def metrics_table(self) -> pd.DataFrame:
        """The headline metrics as a table: metric, val, test (see :func:`metrics_frame`)."""
        return metrics_frame(self.metrics)

    @property
    def warnings(self) -> list[str]:
        """Sentences about how the head was fitted that a reader must see (``metrics.json``'s
        ``warnings``): e.g. settings that should have been chosen on val and were not."""
        return list(self.metrics.get("warnings") or [])

    def missing_note(self) -> str:
        """One markdown sentence per missing metric (empty when nothing is missing)."""
        why = self.missing_reasons
        if not why:
            return ""
        groups: dict[str, list[str]] = {}
        for k, reason in why.items():
            groups.setdefault(reason, []).append(f"`{k}`")
        return "\n".join(f"- {', '.join(keys)} missing: {reason}." for reason, keys in groups.items())


def _finished_splits(source: Any) -> set[str]:
    return {s for s, e in (read_manifest(source).get("splits") or {}).items() if e and e.get("complete")}


def _write_scores(path: Path, df: pd.DataFrame) -> None:
    out = pd.DataFrame(
        {
            "row": df.index.to_numpy(dtype=np.int64),
            "video": df["video"].astype(str).to_numpy(),
            "clip_idx": df["clip_idx"].to_numpy(),
            "y": df["y"].to_numpy(),
            "score": df["score"].to_numpy(),
        }
    )
    atomic_write_csv(path, out)


def _video_bags(X: np.ndarray, rows: pd.DataFrame) -> tuple[list[str], list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """See :func:`ucf_nb.evaluate.heads.video_bags` (kept here for callers of ucf-nb 0.1)."""
    return video_bags(X, rows)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if np.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def run_probe(
    out_dir: str | os.PathLike = "processed",
    *,
    manifest: str | os.PathLike | None = None,
    annotation_path: str | os.PathLike | None = None,
    max_train: int | None = None,
    seed: int = 0,
    fast: bool = False,
    Cs: Sequence[float] = DEFAULT_CS,
    head: str = "linear",
    mil_params: Mapping[str, Any] | MILParams | None = None,
    n_boot: int = 1000,
    refit: bool = False,
) -> ProbeResult:
    """Fit a head on a run's embeddings, score val and test, and write its metrics.

    Reads train, val and test with :func:`ucf_nb.load_embeddings` (train is required; a
    split not extracted makes its metrics missing), fits the head, scores val and test,
    computes :func:`evaluate_probe` and writes, into the head's folder under ``out_dir``
    (``probe`` for ``head="linear"``, ``probe-mil`` for ``head="mil"``; see
    :func:`ucf_nb.get_head`):

    - ``metrics.json``: the metrics of :data:`METRIC_KEYS` (the same keys for every head;
      the headline is ``frame_auc_test_field``), ``head``, ``seed``, ``settings`` (how the
      head was fitted), ``annotation_path``, ``counts``, ``frame_level``,
      ``missing_reasons``, ``warnings`` (sentences a reader must see: a setting that was
      not chosen on val, e.g. because every val clip failed; see :func:`probe_warnings`),
      ``embeddings`` (what was probed: with ``views``, ``n_views`` and
      ``features``, which says that a run of several views per clip, ten-crop, is fitted and
      scored on the mean over each clip's views), ``versions`` and ``timing``
      (seconds; the only part that changes between two identical runs);
    - ``scores_{val,test}.csv``: columns ``row`` (index row number), ``video``,
      ``clip_idx``, ``y``, ``score`` (anomaly score in [0, 1]; empty for failed clips).

    Heads (every name of :func:`ucf_nb.heads`; these two are built in):

    - ``"linear"``: :func:`fit_probe` on the training clips, each labelled with its video's
      label, ``C`` chosen on val.
    - ``"mil"``: :func:`ucf_nb.fit_mil` (Sultani et al. 2018) on the training videos as bags
      of clips with video labels only; its iteration count is chosen on val, then it is refit
      on train + val (the published protocol trains on the whole official training list).
      Test is scored by the refit head; val by the head fitted on train only (the one
      chosen on val), so that val numbers are not scores of training videos.

    Parameters
    ----------
    out_dir : str or path-like
        The extraction's output folder (relative paths resolve against the project root).
    manifest : str or path-like, optional
        Read the embeddings from this ``manifest.json`` instead of ``out_dir``'s.
    annotation_path : str or path-like, optional
        ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``; None: no frame-level metrics.
    max_train, fast, Cs
        Linear head only, see :func:`fit_probe`.
    seed : int
        Seeds the head's fit and the bootstrap.
    head : str
        One of :func:`ucf_nb.heads` (``"linear"``, ``"mil"``). Keywords the head does not
        read (``max_train``, ``fast``, ``Cs`` for ``"mil"``; ``mil_params`` for ``"linear"``)
        must stay at their defaults.
    mil_params : MILParams or mapping, optional
        The settings of :func:`ucf_nb.fit_mil` (e.g. ``{"max_iter": 500}``), MIL head only.
    n_boot : int
        Bootstrap resamples behind each frame AUC's confidence interval.
    refit : bool
        False (default): when the head's ``metrics.json`` records the same ``fingerprint``
        (the embeddings probed, the annotation, these arguments and the package versions;
        see :func:`probe_fingerprint`) and its ``scores_*.csv`` are there, nothing is fitted:
        the recorded result is read back (``ProbeResult.reused`` is True, ``probe`` None) and
        one line says so. True: always fit.

    Returns
    -------
    ProbeResult
    """
    spec = get_head(head)
    options = _head_options(spec, dict(max_train=max_train, fast=fast, Cs=Cs, mil_params=mil_params))
    seed = check_int("seed", seed, 0, who="run_probe: ")
    n_boot = check_int("n_boot", n_boot, 1, who="run_probe: ")
    refit = check_bool("refit", refit, who="run_probe: ")
    t0 = time.perf_counter()
    out = resolve_path(out_dir)
    source = resolve_path(manifest) if manifest is not None else out
    intervals = _read_intervals(annotation_path)

    finished = _finished_splits(source)
    if "train" not in finished:
        raise FileNotFoundError(
            f"the train split of {display_path(source)} is not finished: run "
            "notebooks/02_extract.ipynb with split='train' first"
        )
    fingerprint = probe_fingerprint(
        source,
        finished,
        annotation_path=annotation_path,
        head=head,
        seed=seed,
        fast=fast,
        max_train=max_train,
        Cs=Cs,
        mil_params=mil_params,
        n_boot=n_boot,
    )
    if not refit:
        reused = _reuse(out / spec.folder, fingerprint, source, finished, intervals)
        if reused is not None:
            print(
                f"{head} head: embeddings, annotation and settings unchanged since "
                f"{display_path(reused.paths['metrics'])}: not refitted (refit=True fits again)"
            )
            return reused
    X_tr, y_tr, rows_tr = load_embeddings(source, "train")
    loaded = {s: load_embeddings(source, s) if s in finished else None for s in SCORED_SPLITS}
    n_views = int(X_tr.shape[1]) if X_tr.ndim == 3 else 1
    if n_views > 1:  # several views per clip (ten-crop): both heads fit and score their mean
        X_tr = mean_over_views(X_tr)
        loaded = {s: (mean_over_views(got[0]), *got[1:]) if got else None for s, got in loaded.items()}
    t_load = time.perf_counter()
    fitted = spec.fit((X_tr, y_tr, rows_tr), loaded["val"], seed=seed, **options)
    settings = spec.settings(fitted)
    n_tr_failed = spec.n_train_failed(fitted, X_tr)
    scorers = {s: (lambda X, rows, s=s: spec.score_clips(fitted, s, X, rows)) for s in SCORED_SPLITS}
    t_fit = time.perf_counter()
    fit_warnings = spec.fit_warnings(settings, lambda: _why_no_val(loaded["val"]))
    del X_tr

    scores = _score_splits(scorers, loaded)
    metrics = evaluate_probe(scores, intervals, n_boot=n_boot, seed=seed)
    t_eval = time.perf_counter()

    result = _metrics_record(
        metrics,
        head,
        settings,
        read_manifest(source),
        seed=seed,
        y_tr=y_tr,
        n_tr_failed=n_tr_failed,
        rows_tr=rows_tr,
        annotation_path=annotation_path,
        source=source,
        n_views=n_views,
    )
    result["warnings"] = fit_warnings
    result["fingerprint"] = fingerprint
    result["timing"] = {
        "load_s": round(t_load - t0, 3),
        "fit_s": round(t_fit - t_load, 3),
        "score_and_metrics_s": round(t_eval - t_fit, 3),
    }
    paths = _write_probe(out / spec.folder, result, scores)
    return ProbeResult(metrics=result, scores=scores, probe=fitted, intervals=intervals, paths=paths)


_OPTION_DEFAULTS = {"max_train": None, "fast": False, "Cs": DEFAULT_CS, "mil_params": None}


def _head_options(spec: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The keywords of run_probe ``spec`` reads, checked by the head; the others must be at
    their defaults (an option of another head is refused, not ignored)."""
    for name, value in given.items():
        default = _OPTION_DEFAULTS[name]
        at_default = (
            (value is None or (isinstance(value, Mapping) and not value))
            if default is None
            else (value is default or _same(value, default))
        )
        if name not in spec.options and not at_default:
            readers = [h for h in heads() if name in get_head(h).options]
            raise ValueError(
                f"run_probe: {name}={value!r} applies to the {' and '.join(readers) or 'no'} head only: "
                f"leave it at its default with head={spec.name!r}"
            )
    return spec.check_options(**{k: given[k] for k in spec.options})


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value == default) or (isinstance(default, tuple) and list(value) == list(default))
    except (TypeError, ValueError):
        return False


def _why_no_val(loaded_val: Any) -> str:
    """Why val could not choose a head's settings, as a clause."""
    if loaded_val is None:
        return "the val split is not extracted"
    X, y, rows = loaded_val
    ok = finite_rows(X)
    if len(ok) and not ok.any():
        return (
            f"all {len(ok)} val clips failed (their videos could not be read; notebook 02 for split 'val' "
            "lists them and the fix)"
        )
    labels = np.unique(np.asarray(y)[ok]).tolist()
    return (
        f"the {int(ok.sum())} embedded val clips ({int((~ok).sum())} failed) hold only "
        f"y={labels}, so no ROC AUC can be computed on them"
    )


@dataclass
class ProbeWarnings:
    """The fit warnings of one or more heads (:func:`probe_warnings`): a warning block in a
    notebook, one line when there is none; ``str()`` gives the same as plain text."""

    warnings: list

    def __bool__(self) -> bool:
        return bool(self.warnings)

    def message(self) -> str:
        if not self.warnings:
            return "Every head chose its settings on val."
        return "Warning: " + " ".join(w.rstrip(".") + "." for w in self.warnings)

    def __str__(self) -> str:
        return self.message()

    def __repr__(self) -> str:
        return self.message()

    def _repr_html_(self) -> str:
        import html

        if not self.warnings:
            return f"<p>{html.escape(self.message())}</p>"
        items = "".join(f"<li>{html.escape(w)}.</li>" for w in self.warnings)
        return (
            '<div class="admonition warning"><p class="admonition-title">Warning: settings not chosen on '
            f"val</p><ul>{items}</ul></div>"
        )


def probe_warnings(results: ProbeResult | Mapping[str, ProbeResult]) -> ProbeWarnings:
    """What a reader must know about how the heads were fitted (``metrics.json``'s
    ``warnings`` of each): e.g. a val split whose clips all failed, so that neither the
    linear probe's ``C`` nor the MIL head's iteration count was chosen on val.

    Parameters
    ----------
    results : ProbeResult or mapping head name -> ProbeResult

    Returns
    -------
    ProbeWarnings
    """
    many = results.values() if isinstance(results, Mapping) else [results]
    return ProbeWarnings([w for r in many for w in r.warnings])


def mean_over_views(X: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """The mean over the views of (N, V, D) embeddings, chunk by chunk: float16 (N, D).

    Computed in float32 and stored as float16, like the embeddings themselves; a failed clip
    (every view NaN) stays a NaN row.
    """
    if X.ndim != 3:
        raise ValueError(f"mean_over_views expects (N, V, D) embeddings, got shape {X.shape}")
    out = np.empty((X.shape[0], X.shape[2]), np.float16)
    for a in range(0, X.shape[0], chunk):
        out[a : a + chunk] = np.asarray(X[a : a + chunk], np.float32).mean(axis=1)
    return out


def _params_dict(mil_params: Mapping[str, Any] | MILParams | None) -> dict[str, Any]:
    """``mil_params`` as a plain dict (a MILParams' fields, a mapping's items, {} for None)."""
    if mil_params is None:
        return {}
    to_dict = getattr(mil_params, "to_dict", None)
    return dict(to_dict()) if to_dict is not None else dict(mil_params)  # type: ignore[arg-type]  # a Mapping


def probe_fingerprint(
    source: Path,
    finished: set[str] | Sequence[str],
    *,
    annotation_path: Any,
    head: str,
    seed: int,
    fast: bool,
    max_train: int | None,
    Cs: Sequence[float],
    mil_params: Mapping[str, Any] | MILParams | None,
    n_boot: int,
) -> dict[str, Any]:
    """What a head's result depends on, as recorded in ``metrics.json``'s ``fingerprint``.

    ``inputs``: a sha256 over the run's manifest (model, preprocessing, index sha256 and each
    finished split's entry: shape, counts, ``rows_sha256``, completion time) and the size and
    modification time (ns) of each finished split's array files (no pass over the
    embeddings: a rewritten array changes its mtime), plus the annotation file's sha256.
    ``settings``: the head and its arguments; ``versions``: ucf-nb and the libraries that fit.
    Cheap at any size (a few ``stat`` calls and a hash of the small annotation file).
    """
    man = read_manifest(source)
    folder = source.parent if source.is_file() else source
    splits = {}
    for split in sorted(finished):
        entry = dict((man.get("splits") or {}).get(split) or {})
        stats = {}
        for kind, name in sorted((entry.get("files") or {}).items()):
            st = (folder / name).stat()
            stats[kind] = [name, st.st_size, st.st_mtime_ns]
        splits[split] = {
            "entry": {
                k: entry.get(k)
                for k in ("shape", "dtype", "n_clips", "n_done", "n_failed", "n_short", "rows_sha256", "completed_at")
            },
            "files": stats,
        }
    ann = None if annotation_path is None else file_sha256(resolve_path(annotation_path))
    inputs = {
        "manifest": {
            k: man.get(k)
            for k in ("model", "T", "img_size", "embedding_dim", "pooling", "precision", "preprocessing", "index")
        },
        "splits": splits,
        "annotation_sha256": ann,
    }
    digest = hashlib.sha256(json.dumps(_jsonable(inputs), sort_keys=True, default=str).encode()).hexdigest()
    settings = {
        "head": head,
        "seed": int(seed),
        "fast": bool(fast),
        "max_train": None if max_train is None else int(max_train),
        "Cs": [float(c) for c in Cs],
        "mil_params": _jsonable(_params_dict(mil_params)),
        "n_boot": int(n_boot),
    }
    return {
        "inputs_sha256": digest,
        "settings": settings,
        "versions": package_versions(("ucf-nb", "scikit-learn", "numpy", "scipy", "torch")),
    }


def _reuse(
    probe_dir: Path, fingerprint: Mapping[str, Any], source: Path, finished: set[str], intervals: dict | None
) -> ProbeResult | None:
    """The recorded result of ``probe_dir`` when its fingerprint matches and its files are whole; else None."""
    path = probe_dir / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if metrics.get("fingerprint") != json.loads(json.dumps(fingerprint)):
        return None
    scores, paths = {}, {"metrics": path}
    for split in SCORED_SPLITS:
        if split not in finished:
            continue
        csv = probe_dir / f"scores_{split}.csv"
        try:
            recorded = pd.read_csv(csv)
        except (OSError, ValueError):
            return None
        _, y, rows = load_embeddings(source, split)
        df = _score_frame(rows, y)
        if len(recorded) != len(df) or not np.array_equal(recorded["row"].to_numpy(), df.index.to_numpy()):
            return None
        df["score"] = recorded["score"].to_numpy(dtype=np.float64)
        scores[split], paths[f"scores_{split}"] = df, csv
    return ProbeResult(metrics=metrics, scores=scores, probe=None, intervals=intervals, paths=paths, reused=True)


def _read_intervals(annotation_path: str | os.PathLike | None) -> dict | None:
    """The temporal annotation as video -> [(start, end_exclusive), ...]; None without one."""
    if annotation_path is None:
        return None

    ann = read_temporal_annotation(annotation_path)
    return {name: [tuple(iv) for iv in a.intervals] for name, a in ann.items()}


def _score_frame(rows: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """The columns of a split's rows that ``ProbeResult.scores`` keeps, with ``y`` as int64."""
    keep = [
        c
        for c in ("split", "y", "category", "video", "clip_idx", "start_frame", "end_frame", "n_frames", "anomaly_frac")
        if c in rows.columns
    ]
    df = rows[keep].copy()
    df["y"] = np.asarray(y).astype(np.int64)
    return df


def _score_splits(scorers: Mapping[str, Any], loaded: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The index rows of each loaded split with the head's ``score`` column added
    (``scorers[split](X, rows)`` -> one score per row)."""
    scores: dict[str, pd.DataFrame] = {}
    for split, got in loaded.items():
        if got is None:
            continue
        X, y, rows = got
        df = _score_frame(rows, y)
        df["score"] = scorers[split](X, rows)
        scores[split] = df
    return scores


def _metrics_record(
    metrics: dict[str, Any],
    head: str,
    settings: Mapping[str, Any],
    man: dict[str, Any],
    *,
    seed: int,
    y_tr: np.ndarray,
    n_tr_failed: int,
    rows_tr: pd.DataFrame,
    annotation_path: str | os.PathLike | None,
    source: Path,
    n_views: int = 1,
) -> dict[str, Any]:
    """The content of ``metrics.json`` (without ``timing``): the same keys for every head."""
    result: dict[str, Any] = {k: metrics[k] for k in METRIC_KEYS}
    result["head"] = head
    result["seed"] = int(seed)
    result["settings"] = _jsonable({k: v for k, v in settings.items() if k != "fit_s"})
    result["annotation_path"] = display_path(resolve_path(annotation_path)) if annotation_path else None
    result["counts"] = {
        "train": {
            "n_clips": int(len(y_tr)),
            "n_scored": int(len(y_tr)) - n_tr_failed,
            "n_failed": n_tr_failed,
            "n_videos": int(rows_tr["video"].nunique()),
        },
        **metrics["counts"],
    }
    result["frame_level"] = metrics["frame_level"]
    result["missing_reasons"] = metrics["missing_reasons"]
    result["embeddings"] = {
        "source": display_path(source),
        "checkpoint": man.get("model", {}).get("checkpoint"),
        "embedding_dim": man.get("embedding_dim"),
        "pooling": man.get("pooling"),
        "index_sha256": man.get("index", {}).get("sha256"),
        "views": man.get("views", "center"),
        "n_views": int(n_views),
        "features": (
            "each clip's embedding"
            if n_views == 1
            else f"the mean over each clip's {n_views} views (fit and scored on it)"
        ),
    }
    result["versions"] = package_versions(("ucf-nb", "scikit-learn", "numpy", "torch"))
    return result


def _write_probe(probe_dir: Path, result: dict[str, Any], scores: dict[str, pd.DataFrame]) -> dict[str, Path]:
    """Write ``scores_{split}.csv`` and ``metrics.json`` into ``probe_dir``; returns their paths."""
    probe_dir.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": probe_dir / "metrics.json"}
    for split, df in scores.items():
        paths[f"scores_{split}"] = probe_dir / f"scores_{split}.csv"
        _write_scores(paths[f"scores_{split}"], df)
    atomic_write_json(paths["metrics"], result, allow_nan=False)
    return paths
