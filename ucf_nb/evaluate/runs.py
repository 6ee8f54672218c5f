"""Runs side by side: one folder per encoder under ``processed/runs/<name>/``, and the tables
that compare them.

A *run* is one encoder's extraction (``manifest.json`` and the embeddings, written by
:func:`ucf_nb.extract_split`) and its probe heads (``probe/metrics.json`` from
:func:`ucf_nb.run_probe`, ``probe-<head>/metrics.json`` from other heads such as MIL), all in
one folder. :func:`ucf_nb.extract_split` and :func:`ucf_nb.run_probe` write into whatever
``out_dir`` they are given; only the notebooks and ``python -m ucf_nb.report`` choose
``runs_dir/<name>`` (:func:`run_dir`) as that folder. The clip index is shared by every run.

- :func:`run_name` / :func:`run_dir`: the folder of a run, named from the checkpoint, T and
  pooling (or given);
- :func:`find_runs`, :func:`read_run`: what is on disk;
- :func:`compare_runs`: one row per run and probe head, sorted by the headline metric;
  :func:`ranked_table`: the same rows as a reader ranks them (:class:`RankedTable`: the
  headline with its 95% CI, the false-alarm rate, clips/s), narrow enough for the book's column;
  :func:`per_category_table`, :func:`roc_points`: the heatmap's and the ROC plot's data;
- :func:`literature_note`: which of the numbers are comparable to published results;
- :func:`run_encoder`: extract every split with one encoder and probe it (what the demo does
  for its extra encoders).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..checks import check_int
from ..extract.split import extract_split
from ..index.annotations import read_temporal_annotation
from ..index.build import read_index
from ..paths import display_path, resolve_path
from ..video.preprocess import check_views
from .heads import get_head, head_for_folder
from .heads import heads as registered
from .metrics import frame_scores
from .probe import run_probe

__all__ = [
    "RUNS_DIR",
    "HEADLINE_METRICS",
    "encoder_defaults",
    "run_name",
    "run_dir",
    "find_runs",
    "read_run",
    "compare_runs",
    "RankedTable",
    "ranked_table",
    "run_settings",
    "per_category_table",
    "roc_points",
    "literature_note",
    "run_encoder",
]

RUNS_DIR = "processed/runs"

#: metrics.json keys shown per probe head, in column order; the first one a table has (with a
#: value) is its headline. ``frame_auc_test_field`` is the field's evaluation protocol.
HEADLINE_METRICS = ("frame_auc_test_field", "frame_auc_test", "video_auc_test", "clip_auc_test")
METRIC_COLUMNS = (
    "clip_auc_test",
    "video_auc_test",
    "frame_auc_test",
    "frame_auc_test_field",
    "frame_auc_test_field_ci_low",
    "frame_auc_test_field_ci_high",
    "frame_far_test_field",
    "frame_auc_test_anomalous",
)
#: metrics whose 95% bootstrap interval (``<name>_ci95`` in metrics.json) the table shows as
#: ``<name>_ci_low`` / ``<name>_ci_high``, so a ranking shows which gaps are within noise
INTERVAL_METRICS = ("frame_auc_test_field",)

_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")


def encoder_defaults(checkpoint: str | os.PathLike) -> dict[str, Any]:
    """The family of a checkpoint and its defaults: ``family``, ``T``, ``img_size``, ``pooling``.

    Reads the checkpoint's config only (``AutoConfig``, never remote code), not its weights.
    """
    from ..encoders import adapter_for  # torch-free import of ucf_nb.evaluate (encoders import torch)
    from ..encoders.encoder import local_folder, read_config

    checkpoint = os.fspath(checkpoint)
    folder = local_folder(checkpoint)
    config = read_config(checkpoint, str(folder) if folder is not None else checkpoint, folder)
    adapter = adapter_for(config.model_type)
    return {
        "family": adapter.family,
        "T": adapter.clip_length(config),
        "img_size": adapter.default_img_size,
        "pooling": adapter.poolings[0],
    }


def run_name(checkpoint: str | os.PathLike, *, T: int, pooling: str, views: str = "center") -> str:
    """``<last part of the checkpoint>_T<T>_<pooling>``, e.g.
    ``timesformer-base-finetuned-k400_T8_cls`` for ``facebook/timesformer-base-finetuned-k400``;
    ``views="ten_crop"`` adds ``_tencrop`` (``..._T8_cls_tencrop``)."""
    check_views(views, "run_name: ")
    base = Path(os.fspath(checkpoint).rstrip("/\\")).name or "encoder"
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "encoder"
    T = check_int("T", T, 1, who="run_name: ")
    if not isinstance(pooling, str) or not pooling:
        raise ValueError(f"run_name: pooling must be a non-empty str, got pooling={pooling!r}")
    return f"{base}_T{int(T)}_{pooling}" + ("" if views == "center" else "_" + views.replace("_", ""))


def run_dir(
    checkpoint: str | os.PathLike,
    *,
    T: int | None = None,
    pooling: str | None = None,
    name: str | None = None,
    root: str | os.PathLike = RUNS_DIR,
    views: str = "center",
) -> str:
    """The folder of one encoder's run: ``root/<name>``, project-relative when inside the project.

    Parameters
    ----------
    checkpoint : str or path-like
        Hub id or local folder of the encoder.
    T, pooling : optional
        As given to :func:`ucf_nb.extract_split`; None: the family's default (read from the
        checkpoint's config).
    name : str, optional
        The run's folder name; None: :func:`run_name` of the checkpoint, T, pooling and views.
    views : {"center", "ten_crop"}
        As given to :func:`ucf_nb.extract_split` (ten-crop runs are named ``..._tencrop``).
    root : str or path-like
        The folder holding every run (default ``processed/runs``).
    """
    if name is None:
        if T is None or pooling is None:
            defaults = encoder_defaults(checkpoint)
            T = defaults["T"] if T is None else T
            pooling = defaults["pooling"] if pooling is None else pooling
        name = run_name(checkpoint, T=T, pooling=pooling, views=views)
    elif not isinstance(name, str) or not _NAME_OK.match(name) or name in (".", ".."):
        raise ValueError(
            f"run name {name!r} must be one folder name of letters, digits and ._+=- (no slash), e.g. 'clip-b16_T8'"
        )
    return display_path(resolve_path(root) / name)


def find_runs(root: str | os.PathLike = RUNS_DIR) -> list[str]:
    """Names of the runs under ``root`` (sub-folders holding a ``manifest.json``), sorted."""
    base = resolve_path(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "manifest.json").is_file())


def _head_name(folder: str) -> str:

    return head_for_folder(folder)


def read_run(path: str | os.PathLike) -> dict[str, Any]:
    """A run's ``manifest`` and the ``metrics.json`` of each probe head that has one.

    Returns
    -------
    dict
        ``name``, ``path`` (project-relative), ``manifest`` (parsed), ``heads``: head name ->
        parsed metrics (``"linear"`` for ``probe/``, ``"mil"`` for ``probe-mil/``, ...), and
        ``head_dirs``: head name -> its folder.
    """
    folder = resolve_path(path)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"{display_path(manifest_path)} not found: {display_path(folder)} is not a run "
            "(run notebooks/02_extract.ipynb for it first)"
        )
    heads, head_dirs = {}, {}
    for sub in sorted(folder.glob("probe*")):
        if (sub.name == "probe" or sub.name.startswith("probe-")) and (sub / "metrics.json").is_file():
            heads[_head_name(sub.name)] = json.loads((sub / "metrics.json").read_text())
            head_dirs[_head_name(sub.name)] = sub
    return {
        "name": folder.name,
        "path": display_path(folder),
        "manifest": json.loads(manifest_path.read_text()),
        "heads": heads,
        "head_dirs": head_dirs,
    }


def _resolve_runs(runs: Sequence[str] | None, root: str | os.PathLike) -> list[dict[str, Any]]:
    names = find_runs(root) if runs is None else list(runs)
    if isinstance(runs, str):
        raise TypeError(f"runs must be a list of run names, got the str {runs!r}: write [{runs!r}]")
    base = resolve_path(root)
    missing = [n for n in names if not (base / n / "manifest.json").is_file()]
    if missing:
        raise FileNotFoundError(
            f"run(s) {missing} not found in {display_path(base)} (runs there: {find_runs(root) or 'none'})"
        )
    return [read_run(base / n) for n in names]


def _clips_per_s(manifest: Mapping[str, Any]) -> float | None:
    done = secs = 0.0
    for entry in (manifest.get("splits") or {}).values():
        if entry and entry.get("seconds") and entry.get("n_done"):
            done += entry["n_done"]
            secs += entry["seconds"]
    return round(done / secs, 2) if secs > 0 else None


def _devices(manifest: Mapping[str, Any]) -> str | None:
    seen = []
    for entry in (manifest.get("splits") or {}).values():
        for shard in (entry or {}).get("shards", []) or []:
            if isinstance(shard, Mapping) and shard.get("device") and shard["device"] not in seen:
                seen.append(shard["device"])
    return ", ".join(seen) or None


def _views(manifest: Mapping[str, Any]) -> str:
    """The views a run embedded per clip (``"center"``, ``"ten_crop"``), from its manifest: a
    top-level ``views`` or one under ``settings``; runs that record none embedded the centre."""
    views = manifest.get("views")
    if views is None:
        views = (manifest.get("settings") or {}).get("views")
    return str(views) if views else "center"


def _family(model_type: str | None) -> str | None:
    from ..encoders import adapter_for  # torch-free import of ucf_nb.evaluate (encoders import torch)

    try:
        return adapter_for(model_type).family if model_type else None
    except ValueError:
        return model_type


def _interval_columns(metrics: Mapping[str, Any]) -> dict[str, float]:
    """``<name>_ci_low`` / ``<name>_ci_high`` from the ``<name>_ci95`` pairs of a metrics.json."""
    out = {}
    for name in INTERVAL_METRICS:
        ci = metrics.get(f"{name}_ci95")
        if isinstance(ci, (list, tuple)) and len(ci) == 2:
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = ci
    return out


def compare_runs(runs: Sequence[str] | None = None, *, root: str | os.PathLike = RUNS_DIR) -> pd.DataFrame:
    """One row per run and probe head, best first.

    Parameters
    ----------
    runs : list of str, optional
        Run names under ``root``; None: every run found there.
    root : str or path-like
        The folder of runs.

    Returns
    -------
    pandas.DataFrame
        Columns ``run``, ``head``, ``family``, ``checkpoint``, ``embedding_dim``, ``T``,
        ``views`` (views embedded per clip: ``"center"`` or ``"ten_crop"``), ``img_size``
        (pixels), ``pooling``, ``clips_per_s`` (all splits, on ``device``), then
        whichever of ``clip_auc_test``, ``video_auc_test``, ``frame_auc_test``,
        ``frame_auc_test_field`` (with its 95% bootstrap interval, ``_ci_low``/``_ci_high``,
        and ``frame_far_test_field``, the false-alarm rate at 0.5), ``frame_auc_test_anomalous``
        some head reports. Sorted by
        the headline metric (``attrs["headline"]``: the first of :data:`HEADLINE_METRICS` with
        a value), descending, missing values last, rows without it by the next metric. A run
        whose probe has not run has one row with head ``"(no probe)"``.
    """
    rows = []
    for run in _resolve_runs(runs, root):
        m = run["manifest"]
        model = m.get("model") or {}
        base = {
            "run": run["name"],
            "head": "(no probe)",
            "family": _family(model.get("model_type")),
            "checkpoint": model.get("checkpoint"),
            "embedding_dim": m.get("embedding_dim"),
            "T": m.get("T"),
            "views": _views(m),
            "img_size": m.get("img_size"),
            "pooling": m.get("pooling"),
            "clips_per_s": _clips_per_s(m),
            "device": _devices(m),
        }
        if not run["heads"]:
            rows.append(base)
        for head, metrics in run["heads"].items():
            values = {**metrics, **_interval_columns(metrics)}
            rows.append({**base, "head": head, **{k: values[k] for k in METRIC_COLUMNS if k in values}})
    columns = [
        "run",
        "head",
        "family",
        "checkpoint",
        "embedding_dim",
        "T",
        "views",
        "img_size",
        "pooling",
        "clips_per_s",
        "device",
    ]
    present = [k for k in METRIC_COLUMNS if any(r.get(k) is not None for r in rows)]
    table = pd.DataFrame(rows, columns=columns + present)
    for k in present:
        table[k] = pd.to_numeric(table[k], errors="coerce")
    keys = [k for k in HEADLINE_METRICS if k in present]
    headline = keys[0] if keys else None
    if keys:  # the headline first; rows without it by the next metric, and so on
        table = table.sort_values(keys, ascending=False, na_position="last", kind="stable")
    table = table.reset_index(drop=True)
    table.attrs["headline"] = headline
    return table


#: what the headline metrics mean, in the ranked table's caption
_HEADLINE_WORDS = {
    "frame_auc_test_field": "frame-level ROC AUC on the test split, the field's protocol",
    "frame_auc_test": "frame-level ROC AUC on the test split, from this project's clip windows",
    "video_auc_test": "video-level ROC AUC on the test split",
    "clip_auc_test": "clip-level ROC AUC on the test split",
}
#: the columns of each view of :func:`ranked_table`: (frame column, header, format); formats:
#: "text", "code" (an identifier, may wrap after - and _), "int", "auc" (3 decimals), "ci"
#: (``<col>_low``-``<col>_high``), "speed" (1 decimal, a measurement)
_VIEWS = {
    "headline": (
        ("rank", "#", "int"),
        ("run", "run", "code"),
        ("family", "family", "text"),
        ("T", "T", "int"),
        ("views", "views", "text"),
        ("head", "head", "text"),
        ("auc", "AUC", "auc"),
        ("ci", "95% CI", "ci"),
        ("far", "false alarms", "auc"),
        ("clips_per_s", "clips/s", "speed"),
    ),
    "metrics": (
        ("rank", "#", "int"),
        ("run", "run", "code"),
        ("head", "head", "text"),
        ("clip_auc_test", "clip", "auc"),
        ("video_auc_test", "video", "auc"),
        ("frame_auc_test", "frame", "auc"),
        ("frame_auc_test_field", "field", "auc"),
        ("frame_auc_test_anomalous", "anomalous videos", "auc"),
    ),
}
_VIEW_CAPTIONS = {
    "headline": (
        "95% CI: bootstrap over test videos; false alarms: share of the normal test videos' frames "
        "scored 0.5 or more; clips/s: extraction speed over all splits, comparable only between runs "
        "on the same device."
    ),
    "metrics": (
        "ROC AUCs on the test split: clip (every clip), video (a video's highest clip score), frame "
        "(every frame, from this project's clip windows), field (frame_auc_test_field, the field's "
        "protocol) and anomalous videos (the frames of anomalous videos only)."
    ),
}
_DASH = "\u2013"
#: the columns of :attr:`RankedTable.frame` in the default ("headline") view
RANKED_COLUMNS = ("rank", "run", "family", "T", "views", "head", "auc", "ci_low", "ci_high", "far", "clips_per_s")


@dataclass(frozen=True)
class RankedTable:
    """The comparison as a reader ranks it: one row per run and probe head, best first.

    Made by :func:`ranked_table`. In a notebook it shows as a narrow HTML table (the run names
    set as code, wrapping after ``-`` and ``_``, so that the table fits the book's column at any
    number of runs); ``print`` gives the same table as text; :attr:`frame` holds the numbers.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per run and head, best first. ``rank`` (1 = best; NaN for a row without the
        headline), ``run``, ``head``, and per view: ``"headline"``: ``family``, ``T``,
        ``views``, ``auc`` (the headline), ``ci_low`` / ``ci_high`` (its 95% bootstrap
        interval), ``far`` (the field protocol's false-alarm rate at 0.5), ``clips_per_s``
        (extraction speed over all splits); ``"metrics"``: every test AUC of
        :func:`compare_runs`. NaN where a head does not report a value.
    headline : str or None
        The metrics.json key ranked by (None: no run has a test metric).
    view : {"headline", "metrics"}
    """

    frame: pd.DataFrame
    headline: str | None
    view: str = "headline"

    def caption(self) -> str:
        """What the table is ranked by and what its columns mean (plain text)."""
        if self.headline is None:
            return "No run has a test metric yet: run notebooks/03_probe.ipynb for them."
        return (
            f"Best first by {self.headline} ({_HEADLINE_WORDS.get(self.headline, 'test split')}). "
            + _VIEW_CAPTIONS[self.view]
        )

    def _cells(self) -> list[dict[str, str]]:
        """Each row as header -> text."""

        def fmt(row: Mapping[str, Any], column: str, kind: str) -> str:
            if kind == "ci":
                low, high = row[f"{column}_low"], row[f"{column}_high"]
                return _DASH if pd.isna(low) or pd.isna(high) else f"{low:.3f}{_DASH}{high:.3f}"
            value = row[column]
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                return _DASH if kind in ("int", "auc", "speed") else ""
            if kind == "int":
                return str(int(value))
            if kind in ("auc", "speed"):
                return f"{value:.{3 if kind == 'auc' else 1}f}"
            return str(value)

        spec = _VIEWS[self.view]
        return [
            {header: fmt(row, column, kind) for column, header, kind in spec} for row in self.frame.to_dict("records")
        ]

    def __str__(self) -> str:
        spec = _VIEWS[self.view]
        rows = self._cells()
        width = {h: max([len(h)] + [len(r[h]) for r in rows]) for _, h, _ in spec}

        def line(cells: Mapping[str, str]) -> str:
            return "  ".join(
                cells[h].ljust(width[h]) if kind in ("text", "code") else cells[h].rjust(width[h])
                for _, h, kind in spec
            ).rstrip()

        return "\n".join([line({h: h for _, h, _ in spec}), *map(line, rows), "", self.caption()])

    def __repr__(self) -> str:
        # A notebook stores this as the text/plain beside the HTML: it holds no measured
        # speed, so that two runs of a notebook give the same text (print() shows the table).
        n_runs = self.frame["run"].nunique()
        if self.headline is None or self.frame["rank"].isna().all():
            return f"<RankedTable ({self.view}): {len(self.frame)} rows, {n_runs} runs, no headline metric>"
        best = self.frame.iloc[0]
        value = best["auc"] if "auc" in best else best[self.headline]
        ci = ""
        if "ci_low" in best and not pd.isna(best["ci_low"]):
            ci = f" [{best['ci_low']:.3f}, {best['ci_high']:.3f}]"
        return (
            f"<RankedTable ({self.view}): {len(self.frame)} rows, {n_runs} runs, best first by "
            f"{self.headline}: {best['run']} ({best['head']}) {value:.3f}{ci}>"
        )

    def _repr_html_(self) -> str:
        import html

        spec = _VIEWS[self.view]

        def cell(tag: str, text: str, kind: str) -> str:
            classes = [] if kind in ("text", "code") else ["num"]
            if kind == "speed" and tag == "td":
                classes.append("measured")  # a wall-clock speed: the golden notebooks' sanitizer blanks it
            cls = f' class="{" ".join(classes)}"' if classes else ""
            if kind == "code" and tag == "td":  # an identifier: a line may break after each - and _
                inner = "<code>" + "<wbr>".join(html.escape(p) for p in re.split(r"(?<=[-_])", text)) + "</code>"
            else:
                inner = html.escape(text)
            return f"<{tag}{cls}>{inner}</{tag}>"

        head = "".join(cell("th", header, kind) for _, header, kind in spec)
        body = "".join(
            "<tr>" + "".join(cell("td", r[header], kind) for _, header, kind in spec) + "</tr>" for r in self._cells()
        )
        return (
            f'<table class="ucf-ranking"><caption>{html.escape(self.caption())}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )


def ranked_table(table: pd.DataFrame, *, view: str = "headline") -> RankedTable:
    """The rows of a :func:`compare_runs` table as a reader ranks them, narrow enough to read.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`compare_runs`' table (its order is the ranking; ``attrs["headline"]`` names the
        metric ranked by).
    view : {"headline", "metrics"}
        ``"headline"``: rank, run, family, T, views, head, the headline AUC with its 95% CI, the
        false-alarm rate and clips/s; ``"metrics"``: rank, run, head and every test AUC.

    Returns
    -------
    RankedTable
        Shown in a notebook as a table that fits the book's column.
    """
    if not isinstance(table, pd.DataFrame) or not {"run", "head"} <= set(table.columns):
        raise TypeError(
            f"ranked_table takes the table of ucf_nb.compare_runs (a DataFrame with 'run' and 'head' "
            f"columns), got {type(table).__name__}"
        )
    if view not in _VIEWS:
        raise ValueError(f"ranked_table: view must be one of {', '.join(map(repr, _VIEWS))}, got view={view!r}")
    headline = table.attrs.get("headline")
    n = len(table)

    def numbers(name: str | None) -> np.ndarray:
        if name is not None and name in table.columns:
            return pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)
        return np.full(n, np.nan)

    def values(name: str, default: Any = None) -> np.ndarray:
        return table[name].to_numpy() if name in table.columns else np.full(n, default, dtype=object)

    auc = numbers(headline)
    rank = np.full(n, np.nan)
    rank[np.isfinite(auc)] = np.arange(1, int(np.isfinite(auc).sum()) + 1)
    columns: dict[str, Any] = {"rank": rank, "run": values("run"), "head": values("head")}
    if view == "headline":
        columns.update(
            family=values("family"),
            T=values("T"),
            views=values("views", "center"),
            auc=auc,
            ci_low=numbers(f"{headline}_ci_low" if headline else None),
            ci_high=numbers(f"{headline}_ci_high" if headline else None),
            far=numbers("frame_far_test_field" if headline == "frame_auc_test_field" else None),
            clips_per_s=numbers("clips_per_s"),
        )
        order = list(RANKED_COLUMNS)
    else:
        order = ["rank", "run", "head"] + [c for c, _, kind in _VIEWS["metrics"] if kind == "auc"]
        columns.update({c: numbers(c) for c in order[3:]})
    return RankedTable(frame=pd.DataFrame(columns, columns=order), headline=headline, view=view)


def run_settings(runs: Sequence[str] | None = None, *, root: str | os.PathLike = RUNS_DIR) -> pd.DataFrame:
    """How each run was made, from its manifest: one row per run.

    Columns ``run``, ``checkpoint``, ``revision``, ``model_type``, ``pooling``, ``T``,
    ``views``, ``img_size``, ``preprocessing`` (preset, resize, crop, rescale, mean/std in words),
    ``precision``, ``index_sha256`` (first 12 hex digits) and ``splits`` (those finished).
    """
    rows = []
    for run in _resolve_runs(runs, root):
        m = run["manifest"]
        model, prep = m.get("model") or {}, m.get("preprocessing") or {}
        prep_text = None
        if prep:
            crop = f", crop {prep.get('crop_size')}" if prep.get("crop_size") else ""
            factor = prep.get("rescale_factor", 1 / 255)
            scale = "1/255" if abs(factor * 255 - 1) < 1e-9 else f"{factor:.6g}"
            offset = " - 1" if prep.get("offset") else ""
            mean = ", ".join(f"{v:.3g}" for v in prep.get("mean", ()))
            std = ", ".join(f"{v:.3g}" for v in prep.get("std", ()))
            prep_text = (
                f"{prep.get('preset')}: {prep.get('resize')} {prep.get('size')}{crop}, "
                f"{prep.get('interpolation')}, x * {scale}{offset}, mean ({mean}), std ({std})"
            )
        sha = (m.get("index") or {}).get("sha256")
        rows.append(
            {
                "run": run["name"],
                "checkpoint": model.get("checkpoint"),
                "revision": model.get("revision"),
                "model_type": model.get("model_type"),
                "pooling": m.get("pooling"),
                "T": m.get("T"),
                "views": _views(m),
                "img_size": m.get("img_size"),
                "preprocessing": prep_text,
                "precision": m.get("precision"),
                "index_sha256": sha[:12] if isinstance(sha, str) else None,
                "splits": ", ".join(s for s, e in (m.get("splits") or {}).items() if e and e.get("complete")),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "run",
            "checkpoint",
            "revision",
            "model_type",
            "pooling",
            "T",
            "views",
            "img_size",
            "preprocessing",
            "precision",
            "index_sha256",
            "splits",
        ],
    )


def per_category_table(
    runs: Sequence[str] | None = None, *, root: str | os.PathLike = RUNS_DIR, head: str = "linear", split: str = "test"
) -> pd.DataFrame:
    """Per anomaly category ROC AUC (its clips against the normal clips): categories x runs.

    Reads ``per_category_auc_{split}`` of each run's ``head``; runs without it are left out.
    """
    cols = {}
    for run in _resolve_runs(runs, root):
        values = (run["heads"].get(head) or {}).get(f"per_category_auc_{split}")
        if values:
            cols[run["name"]] = pd.Series(values, dtype=float)
    table = pd.DataFrame(cols)
    table.index.name = "category"
    return table.sort_index()


def roc_points(
    runs: Sequence[str] | None = None,
    *,
    root: str | os.PathLike = RUNS_DIR,
    annotation_path: str | os.PathLike | None = None,
    split: str = "test",
) -> dict[str, dict[str, Any]]:
    """ROC curves of every run and head on ``split``: label -> ``fpr``, ``tpr``, ``auc``, ``level``,
    ``run``, ``head``, ``family``.

    With ``annotation_path`` (the temporal annotation) the curves are frame-level, the
    field's benchmark (clip scores spread onto frames as :func:`ucf_nb.evaluate.metrics.frame_scores`
    does, all test videos concatenated); else clip-level. Labels are ``run`` for the linear
    head and ``run (head)`` for the others.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    ann = read_temporal_annotation(annotation_path) if annotation_path is not None else None
    index_cache: dict[str, pd.DataFrame] = {}
    out = {}
    for run in _resolve_runs(runs, root):
        family = _family((run["manifest"].get("model") or {}).get("model_type"))
        for head, folder in run["head_dirs"].items():
            path = folder / f"scores_{split}.csv"
            if not path.is_file():
                continue
            scores = pd.read_csv(path)
            scores = scores[np.isfinite(scores["score"].to_numpy(dtype=float))]
            if ann is None:
                y, s, level = scores["y"].to_numpy(), scores["score"].to_numpy(), "clip"
            else:
                index_path = run["manifest"]["index"]["path"]
                if index_path not in index_cache:
                    index_cache[index_path] = read_index(index_path)
                rows = index_cache[index_path].loc[scores["row"].to_numpy()]
                scored = rows[["video", "start_frame", "end_frame", "n_frames"]].assign(
                    score=scores["score"].to_numpy()
                )
                per_video = frame_scores(scored)
                ys, ss = [], []
                for video, fs in per_video.items():
                    if video not in ann:
                        assert annotation_path is not None  # ann was read from it
                        raise ValueError(
                            f"{display_path(path)}: video {video!r} has no line in "
                            f"{display_path(resolve_path(annotation_path))}"
                        )
                    ys.append(ann[video].frame_labels(len(fs)))
                    ss.append(fs)
                y, s, level = np.concatenate(ys), np.concatenate(ss), "frame"
                keep = np.isfinite(s)
                y, s = y[keep], s[keep]
            if len(np.unique(y)) < 2:
                continue
            fpr, tpr, _ = roc_curve(y, s)
            label = run["name"] if head == _first_head() else f"{run['name']} ({head})"
            out[label] = {
                "fpr": fpr,
                "tpr": tpr,
                "auc": float(roc_auc_score(y, s)),
                "level": level,
                "run": run["name"],
                "head": head,
                "family": family,
            }
    return out


def _first_head() -> str:
    """The head whose curves are labelled by the run alone (the first registered: linear)."""
    return registered()[0]


def literature_note(table: pd.DataFrame, *, demo: bool = False) -> str:
    """Markdown: which numbers of a :func:`compare_runs` table are comparable to published ones."""
    cols = set(table.columns)
    lines = []
    if demo:
        lines.append(
            "**Demo run: none of these numbers is comparable to anything.** They come from random "
            "tiny encoders on synthetic videos and only show that the pipeline runs end to end."
        )
        lines.append("")
    lines.append(
        "Published UCF-Crime results report one number: the frame-level ROC AUC over all 290 test "
        "videos concatenated, with the official temporal annotation as ground truth (Sultani et al. "
        "2018, MIL on C3D features: 75.41; RTFM: 84.30; VadCLIP on CLIP ViT-B/16 frame features: "
        "88.02). Those methods train on the official 1,610 training videos with video-level labels "
        "only."
    )
    if "frame_auc_test_field" in cols:
        lines.append(
            "- `frame_auc_test_field` follows that protocol and is the column to hold against them, "
            "when the run covers the whole official test set."
        )
    if "frame_auc_test" in cols:
        lines.append(
            "- `frame_auc_test` is a frame-level AUC over the test videos too, but computed from this "
            "project's clip windows (a frame scores the mean of the clips covering it) and from a "
            "probe whose `C` was chosen on a validation split of the training videos: close to the "
            "protocol, not identical to it. It is comparable to the literature only as a rough guide."
        )
    lines.append(
        "- `clip_auc_test`, `video_auc_test` and the per-category AUCs have no published counterpart: "
        "compare them between the rows of this table only."
    )
    lines.append(
        "- Rows are comparable with each other when they share the index (every run here does) and "
        "differ only in the encoder, T, views and input size; the extraction speed (clips/s) is "
        "comparable only between runs on the same device."
    )
    return "\n".join(lines)


def run_encoder(
    checkpoint: str | os.PathLike,
    *,
    index_path: str | os.PathLike = "processed/index_clips.csv",
    runs_dir: str | os.PathLike = RUNS_DIR,
    name: str | None = None,
    T: int | None = None,
    pooling: str | None = None,
    annotation_path: str | os.PathLike | None = None,
    splits: Sequence[str] = ("train", "val", "test"),
    heads: Sequence[str] | None = None,
    mil_params: Mapping[str, Any] | None = None,
    progress: bool = True,
    **extract_kwargs: Any,
) -> str:
    """Extract ``splits`` with one encoder into :func:`run_dir` and probe them there.

    What notebooks 02 (once per split) and 03 do for one encoder, in this process; the
    demo uses it for its extra encoders. ``extract_kwargs`` go to :func:`ucf_nb.extract_split`
    (``img_size``, ``batch_size``, ``num_workers``, ``device``, ``precision``, ``views``...; a
    ten-crop run's default name ends in ``_tencrop``); ``heads`` are the probe heads fitted
    (None: every one of :func:`ucf_nb.heads`; ``"linear"`` writes ``probe/``, ``"mil"`` writes
    ``probe-mil/``, with ``mil_params`` passed to :func:`ucf_nb.fit_mil`), as notebook 03 fits them.

    Returns
    -------
    str
        The run's folder, project-relative when inside the project.
    """
    extract_kwargs.setdefault("img_size", None)  # the checkpoint's own size (extract_split's default is 224)
    heads = registered() if heads is None else heads
    if isinstance(heads, str):
        raise TypeError(f"run_encoder: heads must be a list of head names, got the str {heads!r}: write [{heads!r}]")
    unknown = sorted(set(heads) - set(registered()))
    if unknown:
        raise ValueError(f"run_encoder: heads must be names of ucf_nb.heads() {registered()}, got {unknown}")
    out_dir = run_dir(
        checkpoint, T=T, pooling=pooling, name=name, root=runs_dir, views=extract_kwargs.get("views", "center")
    )
    for split in splits:
        extract_split(
            split,
            index_path,
            out_dir=out_dir,
            checkpoint=checkpoint,
            T=T,
            pooling=pooling,
            progress=progress,
            **extract_kwargs,
        )
    for head in heads:
        extra: dict[str, Any] = {"mil_params": mil_params} if "mil_params" in get_head(head).options else {}
        run_probe(out_dir=out_dir, annotation_path=annotation_path, head=head, **extra)
    return out_dir
