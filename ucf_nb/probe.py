"""Linear probes on clip embeddings and the metrics UCF-Crime results are reported in.

Three layers, from pure to I/O:

- metric functions (:func:`clip_metrics`, :func:`per_category_auc`, :func:`video_auc`,
  :func:`frame_scores`, :func:`frame_level_auc`, :func:`evaluate_probe`): arrays and
  DataFrames in, numbers out;
- :func:`fit_probe`: a standardised, class-balanced logistic regression whose ``C`` is
  chosen on val, returned as a :class:`LinearProbe` value (plain arrays, no pickle);
- :func:`run_probe`: reads a run's embeddings with :func:`ucf_nb.load_embeddings`, fits,
  scores val and test, and writes ``out_dir/probe/metrics.json`` and
  ``out_dir/probe/scores_{split}.csv``.

Conventions
-----------
- A *scored* table is the index rows of one split (index = index row numbers) with a
  ``score`` column added: the probe's probability that the clip is anomalous, NaN for clips
  whose embedding failed (NaN rows of the store). Rows with a NaN score are left out of every
  metric and counted.
- Frame numbers count decoded frames from 0 and every interval is half-open:
  ``(start, end_exclusive)``, as :func:`ucf_nb.read_temporal_annotation` returns them.
- Frame-level scores: frame ``f`` of a video scores the mean of the clips covering it
  (``start_frame <= f < end_frame``); a frame no clip covers scores the nearest clip (frame
  distance to the clip's frames), the mean of them when several are equally near. A frame is
  anomalous when it lies inside any annotated interval. All test videos are concatenated
  and one ROC AUC is computed over all frames, the field's benchmark metric.
- An AUC needs both classes: a metric that cannot be computed is ``None`` and
  :func:`evaluate_probe` says why in ``missing_reasons``.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_CS",
    "LinearProbe",
    "ProbeResult",
    "fit_probe",
    "clip_metrics",
    "per_category_auc",
    "video_auc",
    "video_table",
    "frame_scores",
    "frame_level_auc",
    "annotation_coverage",
    "evaluate_probe",
    "run_probe",
]

DEFAULT_CS: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
"""The inverse regularisation strengths tried on val (on standardised features)."""

GRID_N_TRAIN = 20_000
"""The grid of ``C`` is fitted on a seeded subsample of this many training clips."""

FAST_N_TRAIN = 20_000
"""``fast=True`` trains on the first this many (finite) training clips, as the prototype did."""

NORMAL = "Normal"
FRAME_KEYS = ("frame_auc_test_field", "frame_auc_test_field_ci95", "frame_far_test_field",
              "frame_auc_test", "frame_auc_test_ci95", "frame_far_test",
              "frame_auc_test_anomalous", "frame_auc_test_anomalous_ci95")
"""The frame-level keys of the metrics, headline first."""
SCORES_COLUMNS = ("row", "video", "clip_idx", "y", "score")
_CHUNK = 8192
_QUANT_BITS = 36  # frame-score sums are exact integers at 2**-36 of the largest |score|


# ============================================================================ helpers

def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC, or None when ``y`` holds a single class (or nothing)."""
    from sklearn.metrics import roc_auc_score

    if len(y) == 0 or np.unique(y).size < 2:
        return None
    return float(roc_auc_score(y, score))


def _ap(y: np.ndarray, score: np.ndarray) -> float | None:
    from sklearn.metrics import average_precision_score

    if len(y) == 0 or np.unique(y).size < 2:
        return None
    return float(average_precision_score(y, score))


def _need_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame (index rows plus a 'score' column), "
                        f"got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {missing}: pass the rows DataFrame of "
                         "load_embeddings with a 'score' column added")


def _scored_only(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with a finite score."""
    return df[np.isfinite(df["score"].to_numpy(dtype=np.float64))]


def _intervals_of(value: Any) -> list[tuple[int, int]]:
    """Intervals from a plain list of pairs or an object with ``.intervals`` (VideoAnnotation)."""
    items = getattr(value, "intervals", value)
    out = []
    for pair in items or ():
        start, end = (int(v) for v in pair)
        out.append((start, end))
    return out


def _category_label(df: pd.DataFrame) -> np.ndarray:
    """Video-level ground truth of each row: 1 unless the category is Normal."""
    if "category" in df.columns:
        return (df["category"].astype(str).to_numpy() != NORMAL).astype(np.int8)
    return df["y"].to_numpy().astype(np.int8)


# ============================================================================ clip metrics

def clip_metrics(y: np.ndarray | Sequence[int], score: np.ndarray | Sequence[float]) -> dict[str, Any]:
    """Clip-level ROC AUC and average precision.

    Parameters
    ----------
    y : array-like of int, shape (N,)
        1 anomalous, 0 normal.
    score : array-like of float, shape (N,)
        Higher means more anomalous; NaN scores (failed clips) are left out.

    Returns
    -------
    dict
        ``auc`` and ``ap`` (None when fewer than two classes are left), ``n`` (clips scored),
        ``n_dropped`` (clips with a NaN score).
    """
    y = np.asarray(y).reshape(-1)
    score = np.asarray(score, dtype=np.float64).reshape(-1)
    if y.shape != score.shape:
        raise ValueError(f"y has {len(y)} entries but score has {len(score)}: pass one score per clip")
    ok = np.isfinite(score)
    y, score = y[ok], score[ok]
    return {"auc": _auc(y, score), "ap": _ap(y, score), "n": int(ok.sum()), "n_dropped": int((~ok).sum())}


def per_category_auc(scored: pd.DataFrame) -> dict[str, float | None]:
    """ROC AUC of each anomaly category against the normal clips.

    For category ``c``: positives are the clips of category ``c`` with ``y = 1``, negatives
    the clips of ``Normal`` videos. Clips with a NaN score are left out.

    Parameters
    ----------
    scored : pandas.DataFrame
        Columns ``category``, ``y`` and ``score``.

    Returns
    -------
    dict
        Category -> AUC (None when the category or the normal clips have no scored clip),
        in sorted category order, ``Normal`` excluded.
    """
    _need_columns(scored, ("category", "y", "score"), "scored")
    d = _scored_only(scored)
    cat = d["category"].astype(str).to_numpy()
    y = d["y"].to_numpy()
    s = d["score"].to_numpy(dtype=np.float64)
    neg = cat == NORMAL
    out: dict[str, float | None] = {}
    for c in sorted(set(scored["category"].astype(str)) - {NORMAL}):
        pos = (cat == c) & (y == 1)
        sel = pos | neg
        out[c] = _auc(pos[sel].astype(np.int8), s[sel]) if pos.any() and neg.any() else None
    return out


def video_table(scored: pd.DataFrame) -> pd.DataFrame:
    """One row per video: its label and its clips' scores pooled.

    Returns
    -------
    pandas.DataFrame
        Index ``video``; columns ``y`` (1 unless the category is ``Normal``), ``category``
        (when given), ``n_clips`` (scored clips), ``score_max`` and ``score_mean``. Videos
        without a scored clip are left out.
    """
    _need_columns(scored, ("video", "score"), "scored")
    d = _scored_only(scored)
    g = pd.DataFrame({"video": d["video"].astype(str).to_numpy(), "y": _category_label(d),
                      "score": d["score"].to_numpy(dtype=np.float64)})
    if "category" in d.columns:
        g["category"] = d["category"].astype(str).to_numpy()
    agg = {"y": ("y", "max"), "n_clips": ("score", "size"), "score_max": ("score", "max"),
           "score_mean": ("score", "mean")}
    if "category" in g.columns:
        agg["category"] = ("category", "first")
    return g.groupby("video", sort=True).agg(**agg)


def video_auc(scored: pd.DataFrame, pool: str = "max") -> float | None:
    """Video-level ROC AUC: each video scored by the max (or mean) of its clips' scores.

    A video's label is 1 unless its category is ``Normal`` (without a ``category`` column:
    the max of its clips' ``y``).

    Parameters
    ----------
    scored : pandas.DataFrame
        Columns ``video``, ``score`` and ``category`` (or ``y``).
    pool : {"max", "mean"}

    Returns
    -------
    float or None
        None when the scored videos hold a single class.
    """
    if pool not in ("max", "mean"):
        raise ValueError(f"pool must be 'max' or 'mean', got pool={pool!r}")
    v = video_table(scored)
    return _auc(v["y"].to_numpy(), v[f"score_{pool}"].to_numpy())


# ============================================================================ frame level

@dataclass(frozen=True)
class _FrameAxis:
    """All frames of some videos, concatenated in ``videos`` order."""

    videos: np.ndarray      # (V,) names
    offsets: np.ndarray     # (V + 1,) int64; video v owns frames [offsets[v], offsets[v+1])
    score: np.ndarray       # (F,) float64, NaN for videos without a scored clip
    covered: np.ndarray     # (F,) bool, some clip covers the frame


def _frame_axis(scored: pd.DataFrame) -> _FrameAxis:
    _need_columns(scored, ("video", "start_frame", "end_frame", "score"), "scored")
    names, codes = np.unique(scored["video"].astype(str).to_numpy(), return_inverse=True)
    start = scored["start_frame"].to_numpy(dtype=np.int64)
    end = scored["end_frame"].to_numpy(dtype=np.int64)
    if (end <= start).any() or (start < 0).any():
        i = int(np.flatnonzero((end <= start) | (start < 0))[0])
        raise ValueError(f"row {scored.index[i]} of scored has start_frame={start[i]}, "
                         f"end_frame={end[i]}: clips need 0 <= start_frame < end_frame")
    # a video's length: n_frames when known, else its last clip's end
    last_end = np.zeros(len(names), np.int64)
    np.maximum.at(last_end, codes, end)
    n = last_end.copy()
    if "n_frames" in scored.columns:
        nf = pd.to_numeric(scored["n_frames"], errors="coerce").to_numpy(dtype=np.float64)
        known = np.full(len(names), -1.0)
        np.maximum.at(known, codes, np.where(np.isfinite(nf), nf, -1.0))
        n = np.where(known > 0, known, last_end).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    total = int(offsets[-1])

    s = scored["score"].to_numpy(dtype=np.float64)
    ok = np.isfinite(s)
    c_, a_, b_ = codes[ok], start[ok], np.minimum(end[ok], n[codes[ok]])
    keep = b_ > a_                                   # clips starting past n_frames cover nothing
    c_, a_, b_, s_ = c_[keep], a_[keep], b_[keep], s[ok][keep]
    # exact integer sums: quantise at a power-of-two step so that equal means compare equal
    top = float(np.max(np.abs(s_))) if len(s_) else 1.0
    step = 2.0 ** (np.ceil(np.log2(top)) - _QUANT_BITS) if top > 0 else 1.0
    q = np.rint(s_ / step).astype(np.int64)
    ga, gb = offsets[c_] + a_, offsets[c_] + b_
    d_sum = np.zeros(total + 1, np.int64)
    d_cnt = np.zeros(total + 1, np.int64)
    np.add.at(d_sum, ga, q)
    np.add.at(d_sum, gb, -q)
    np.add.at(d_cnt, ga, 1)
    np.add.at(d_cnt, gb, -1)
    fsum = np.cumsum(d_sum)[:total]
    fcnt = np.cumsum(d_cnt)[:total]
    covered = fcnt > 0

    # uncovered frames: the clips covering the nearest covered frame on each side of the same
    # video are exactly the nearest clips on that side (all of them end / start at that frame)
    frame = np.arange(total, dtype=np.int64)
    vid = np.repeat(np.arange(len(names)), n)
    left = np.maximum.accumulate(np.where(covered, frame, -1)) if total else frame
    right = np.minimum.accumulate(np.where(covered, frame, total)[::-1])[::-1] if total else frame
    lo, hi = offsets[vid], offsets[vid + 1]
    has_l = left >= lo
    has_r = right < hi
    dl = np.where(has_l, frame - left, np.iinfo(np.int64).max)
    dr = np.where(has_r, right - frame, np.iinfo(np.int64).max)
    use_l = has_l & (dl <= dr)
    use_r = has_r & (dr <= dl)
    li, ri = np.clip(left, 0, max(total - 1, 0)), np.clip(right, 0, max(total - 1, 0))
    tot_sum = np.where(covered, fsum, np.where(use_l, fsum[li], 0) + np.where(use_r, fsum[ri], 0))
    tot_cnt = np.where(covered, fcnt, np.where(use_l, fcnt[li], 0) + np.where(use_r, fcnt[ri], 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(tot_cnt > 0, tot_sum.astype(np.float64) / np.maximum(tot_cnt, 1) * step, np.nan)
    return _FrameAxis(videos=names, offsets=offsets, score=score, covered=covered)


def frame_scores(scored: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-frame anomaly scores of each video, from its clips' scores.

    Frame ``f`` scores the mean of the clips with ``start_frame <= f < end_frame``; frames no
    clip covers take the nearest clip's score (the mean when several are equally near).
    A video's length is its ``n_frames`` (else its last clip's ``end_frame``). Sums over
    clips are exact (scores are rounded to 2**-36 of the largest ``|score|`` first), so frames
    covered by the same clips always get bit-identical scores and tie in the AUC.

    Parameters
    ----------
    scored : pandas.DataFrame
        Columns ``video``, ``start_frame``, ``end_frame``, ``score`` and optionally
        ``n_frames``; NaN scores are ignored.

    Returns
    -------
    dict
        Video name -> float64 array of shape (n_frames,), all NaN for a video without a
        scored clip; videos in sorted name order.
    """
    ax = _frame_axis(scored)
    return {str(v): ax.score[a:b] for v, a, b in zip(ax.videos, ax.offsets[:-1], ax.offsets[1:])}


def _frame_ground_truth(ax: _FrameAxis, intervals: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(labels (F,) int8, video_is_anomalous (V,) bool) on the frame axis."""
    total = int(ax.offsets[-1])
    diff = np.zeros(total + 1, np.int64)
    anomalous = np.zeros(len(ax.videos), bool)
    for v, name in enumerate(ax.videos):
        n = int(ax.offsets[v + 1] - ax.offsets[v])
        for start, end in _intervals_of(intervals[name]):
            a, b = min(max(start, 0), n), min(max(end, 0), n)
            if b > a:
                anomalous[v] = True
                diff[ax.offsets[v] + a] += 1
                diff[ax.offsets[v] + b] -= 1
    return (np.cumsum(diff)[:total] > 0).astype(np.int8), anomalous


def frame_level_auc(scored: pd.DataFrame, intervals: Mapping[str, Any], *,
                    anomalous_only: bool = False, return_details: bool = False
                    ) -> float | None | tuple[float | None, dict[str, Any]]:
    """Frame-level ROC AUC over the videos of ``scored``, all frames concatenated.

    Parameters
    ----------
    scored : pandas.DataFrame
        The test rows with a ``score`` column (see :func:`frame_scores`). Every video in it
        must appear in ``intervals``.
    intervals : mapping
        Video file name -> half-open anomalous intervals ``[(start, end_exclusive), ...]``
        (empty for normal videos), or the :class:`ucf_nb.index.VideoAnnotation` values of
        :func:`ucf_nb.read_temporal_annotation`.
    anomalous_only : bool
        Only the videos with at least one annotated interval inside the video.
    return_details : bool
        Also return counts: ``n_videos``, ``n_frames``, ``n_frames_anomalous``,
        ``n_frames_uncovered`` (scored from the nearest clip) and ``n_videos_unscored``
        (no scored clip: their frames are left out).

    Returns
    -------
    float or None
        None when the frames hold a single class.
    """
    if not isinstance(intervals, Mapping):
        raise TypeError(f"intervals must be a mapping video name -> [(start, end_exclusive), ...], "
                        f"got {type(intervals).__name__}")
    ax = _frame_axis(scored)
    absent = [v for v in ax.videos if v not in intervals]
    if absent:
        raise ValueError(f"{len(absent)} scored video(s) have no entry in intervals (e.g. {absent[0]!r}): "
                         "pass the temporal annotation of every test video")
    labels, anomalous = _frame_ground_truth(ax, intervals)
    video_of_frame = np.repeat(np.arange(len(ax.videos)), np.diff(ax.offsets))
    sel = np.isfinite(ax.score)
    if anomalous_only:
        sel &= anomalous[video_of_frame]
    scored_videos = np.zeros(len(ax.videos), bool)
    scored_videos[np.unique(video_of_frame[np.isfinite(ax.score)])] = True
    in_scope = anomalous if anomalous_only else np.ones(len(ax.videos), bool)
    auc = _auc(labels[sel], ax.score[sel])
    if not return_details:
        return auc
    details = {"n_videos": int((in_scope & scored_videos).sum()), "n_frames": int(sel.sum()),
               "n_frames_anomalous": int(labels[sel].sum()),
               "n_frames_uncovered": int((sel & ~ax.covered).sum()),
               "n_videos_unscored": int((in_scope & ~scored_videos).sum())}
    return auc, details


# ============================================================================ evaluation

def annotation_coverage(scored: pd.DataFrame, intervals: Mapping[str, Any]) -> dict[str, Any]:
    """How the test split and the annotation match, video by video.

    Returns
    -------
    dict
        ``n_annotated``, ``n_test_videos``, ``not_in_test`` (annotated videos absent from the
        split, sorted) and ``not_annotated`` (test videos absent from the annotation).
    """
    test = set(scored["video"].astype(str))
    ann = set(map(str, intervals))
    return {"n_annotated": len(ann), "n_test_videos": len(test),
            "not_in_test": sorted(ann - test), "not_annotated": sorted(test - ann)}


def _examples(names: Sequence[str], k: int = 3) -> str:
    shown = ", ".join(names[:k])
    return shown + (", ..." if len(names) > k else "")


def evaluate_probe(scored: Mapping[str, pd.DataFrame], intervals: Mapping[str, Any] | None = None, *,
                   n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every metric of the probe, from the scored splits.

    Parameters
    ----------
    scored : mapping split -> pandas.DataFrame
        ``"val"`` and/or ``"test"``: the split's index rows with a ``score`` column (columns
        ``y``, ``category``, ``video``, ``start_frame``, ``end_frame``, ``n_frames``,
        ``score``). An absent split makes its metrics missing.
    intervals : mapping, optional
        The temporal annotation (see :func:`frame_level_auc`); None: no frame-level metrics.
    n_boot, seed : int
        Bootstrap resamples of the test videos behind each frame AUC's confidence interval,
        and their seed (see :func:`ucf_nb.field.auc_bootstrap_ci`).

    Returns
    -------
    dict
        ``clip_auc_{s}``, ``clip_ap_{s}``, ``video_auc_{s}`` (max-pooled),
        ``video_auc_{s}_mean`` (mean-pooled) and ``per_category_auc_{s}`` for s in val, test;
        the frame-level metrics of :data:`FRAME_KEYS`: ``frame_auc_test_field`` (the field's
        convention: frames before the last full 16-frame block, the headline),
        ``frame_auc_test`` (every frame) and ``frame_auc_test_anomalous`` (every frame of the
        anomalous videos), each with ``..._ci95`` ([low, high], 95% bootstrap over test
        videos), and ``frame_far_test_field`` / ``frame_far_test`` (false-alarm rate at 0.5
        on the frames of normal test videos); ``counts`` (per split ``n_clips``,
        ``n_scored``, ``n_failed``, ``n_videos``); ``frame_level`` (counts behind the frame
        metrics per convention, or None) and ``missing_reasons`` (metric key -> why it is None).
    """
    out: dict[str, Any] = {}
    why: dict[str, str] = {}
    counts: dict[str, Any] = {}
    for split in ("val", "test"):
        keys = [f"clip_auc_{split}", f"clip_ap_{split}", f"video_auc_{split}", f"video_auc_{split}_mean"]
        df = scored.get(split)
        if df is None:
            for k in keys:
                out[k] = None
                why[k] = f"the {split} split has no embeddings (extract it with notebooks/02_extract.ipynb)"
            out[f"per_category_auc_{split}"] = {}
            continue
        _need_columns(df, ("y", "video", "category", "score"), f"scored[{split!r}]")
        m = clip_metrics(df["y"].to_numpy(), df["score"].to_numpy())
        out[f"clip_auc_{split}"], out[f"clip_ap_{split}"] = m["auc"], m["ap"]
        out[f"video_auc_{split}"] = video_auc(df, "max")
        out[f"video_auc_{split}_mean"] = video_auc(df, "mean")
        out[f"per_category_auc_{split}"] = per_category_auc(df)
        ok = np.isfinite(df["score"].to_numpy(dtype=np.float64))
        counts[split] = {"n_clips": int(len(df)), "n_scored": int(ok.sum()), "n_failed": int((~ok).sum()),
                         "n_videos": int(df["video"].nunique())}
        ys = np.unique(df["y"].to_numpy()[ok])
        for k in keys[:2]:
            if out[k] is None:
                why[k] = (f"the scored {split} clips hold only y={ys.tolist()}: an AUC needs both classes"
                          if m["n"] else f"no {split} clip has an embedding (all {len(df)} failed)")
        for k in keys[2:]:
            if out[k] is None:
                why[k] = f"the {split} videos with a scored clip are all of one class (normal or anomalous)"
    for k in FRAME_KEYS:
        out[k] = None
    out["frame_level"] = None
    test = scored.get("test")
    if intervals is None:
        for k in FRAME_KEYS:
            why[k] = "no temporal annotation was given (pass annotation_path=)"
    elif test is None:
        for k in FRAME_KEYS:
            why[k] = "the test split has no embeddings (extract it with notebooks/02_extract.ipynb)"
    else:
        cov = annotation_coverage(test, intervals)
        if cov["not_in_test"] or cov["not_annotated"]:
            parts = []
            if cov["not_in_test"]:
                parts.append(f"{len(cov['not_in_test'])} of the {cov['n_annotated']} annotated videos are not "
                             f"in the test split (e.g. {_examples(cov['not_in_test'])})")
            if cov["not_annotated"]:
                parts.append(f"{len(cov['not_annotated'])} of the {cov['n_test_videos']} test videos have no "
                             f"annotation (e.g. {_examples(cov['not_annotated'])})")
            reason = ("the test split does not cover the annotated videos: " + "; ".join(parts) +
                      " (build the index and extract the test split from the same annotation)")
            for k in FRAME_KEYS:
                why[k] = reason
        else:
            from .field import frame_metrics

            kw = dict(n_boot=n_boot, seed=seed)
            fm = {"all": frame_metrics(test, intervals, convention="all", **kw),
                  "field": frame_metrics(test, intervals, convention="field", **kw),
                  "anomalous": frame_metrics(test, intervals, convention="all", anomalous_only=True, **kw)}
            for name, key in (("all", "frame_auc_test"), ("field", "frame_auc_test_field"),
                              ("anomalous", "frame_auc_test_anomalous")):
                out[key] = fm[name]["auc"]
                out[f"{key}_ci95"] = fm[name]["ci95"]
            out["frame_far_test"], out["frame_far_test_field"] = fm["all"]["far"], fm["field"]["far"]
            out["frame_level"] = {name: r["details"] for name, r in fm.items()}
            one_class = "the scored test frames are all of one class"
            for name, key in (("all", "frame_auc_test"), ("field", "frame_auc_test_field")):
                if fm[name]["auc"] is None:
                    why[key] = why[f"{key}_ci95"] = one_class
                if fm[name]["far"] is None:
                    why[key.replace("auc", "far")] = "no normal test video has a scored frame"
            if fm["anomalous"]["auc"] is None:
                why["frame_auc_test_anomalous"] = why["frame_auc_test_anomalous_ci95"] = (
                    "no scored test video has an annotated interval"
                    if fm["anomalous"]["details"]["n_frames"] == 0 else
                    "the anomalous test videos' frames are all of one class")
            for key in ("frame_auc_test_ci95", "frame_auc_test_field_ci95", "frame_auc_test_anomalous_ci95"):
                if out[key] is None and key not in why:
                    why[key] = "no bootstrap resample of the test videos held both classes"
    out["counts"] = counts
    out["missing_reasons"] = why
    return out


# ============================================================================ the probe

@dataclass(frozen=True)
class LinearProbe:
    """A fitted linear probe on raw embeddings: ``p = sigmoid(((x - mean) / scale) @ coef + intercept)``.

    Attributes
    ----------
    mean, scale : numpy.ndarray of float64, shape (D,)
        Standardisation (zeros and ones when the features were not standardised).
    coef : numpy.ndarray of float64, shape (D,)
    intercept : float
    settings : dict
        How it was fitted (JSON-ready): ``mode``, ``C``, ``C_grid``, ``val_auc_by_C``,
        ``class_weight``, ``standardize``, ``solver``, ``max_train``, ``seed``, ``n_train``,
        ``n_train_failed``, ``grid_n_train``, ``max_iter``, ``tol``, ``n_iter``,
        ``converged``, ``C_note`` (why ``C`` was not searched, else None).
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    settings: dict = field(default_factory=dict)

    def decision_function(self, X: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
        """Logits of ``X`` (N, D) (float16 memmap fine), float64 (N,); NaN for non-finite rows."""
        X = _check_2d(X, "X", len(self.coef))
        out = np.empty(len(X), np.float64)
        w = self.coef / self.scale
        for a in range(0, len(X), chunk):
            block = np.asarray(X[a:a + chunk], dtype=np.float64)
            z = (block - self.mean) @ w + self.intercept
            z[~np.isfinite(block).all(axis=1)] = np.nan
            out[a:a + chunk] = z
        return out

    def predict_proba(self, X: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
        """Probability that each clip is anomalous, float64 (N,); NaN for non-finite rows."""
        from scipy.special import expit

        return expit(self.decision_function(X, chunk))


def _check_2d(X: Any, name: str, width: int | None = None) -> np.ndarray:
    if not hasattr(X, "shape") or len(X.shape) != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D) of embeddings, got shape "
                         f"{getattr(X, 'shape', None)}")
    if width is not None and X.shape[1] != width:
        raise ValueError(f"{name} has {X.shape[1]} columns but the probe was fitted on {width}: "
                         "score embeddings of the same encoder")
    return X


def _finite_rows(X: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
    ok = np.empty(len(X), bool)
    for a in range(0, len(X), chunk):
        ok[a:a + chunk] = np.isfinite(np.asarray(X[a:a + chunk])).all(axis=1)
    return ok


def _gather_f32(X: np.ndarray, rows: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
    """X[rows] as a float32 array, read chunk by chunk (rows ascending)."""
    out = np.empty((len(rows), X.shape[1]), np.float32)
    for a in range(0, len(rows), chunk):
        r = rows[a:a + chunk]
        if len(r) == 0:
            continue
        lo, hi = int(r[0]), int(r[-1]) + 1
        out[a:a + len(r)] = np.asarray(X[lo:hi])[r - lo]
    return out


def _mean_scale(X32: np.ndarray, chunk: int = _CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and standard deviation (float64), merged chunk by chunk (Chan et al.)."""
    D = X32.shape[1]
    n, mean, m2 = 0, np.zeros(D), np.zeros(D)
    for a in range(0, len(X32), chunk):
        b = X32[a:a + chunk].astype(np.float64)
        nb = len(b)
        mb = b.mean(axis=0)
        m2b = ((b - mb) ** 2).sum(axis=0)
        delta = mb - mean
        tot = n + nb
        mean = mean + delta * nb / tot
        m2 = m2 + m2b + delta ** 2 * n * nb / tot
        n = tot
    std = np.sqrt(m2 / max(n, 1))
    std[std < 1e-12] = 1.0
    return mean, std


def _standardize_inplace(X32: np.ndarray, mean: np.ndarray, scale: np.ndarray, chunk: int = _CHUNK) -> None:
    m32, s32 = mean.astype(np.float32), scale.astype(np.float32)
    for a in range(0, len(X32), chunk):
        X32[a:a + chunk] -= m32
        X32[a:a + chunk] /= s32


def _check_labels(y: Any, n: int, name: str) -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise ValueError(f"{name} has {len(y)} labels for {n} embeddings: pass one label per row")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(f"{name} must hold 0 (normal) and 1 (anomalous); found {y[bad][0]!r} at position "
                         f"{int(np.flatnonzero(bad)[0])}")
    return y.astype(np.int8)


def _fit_lr(X: np.ndarray, y: np.ndarray, C: float, *, balanced: bool, max_iter: int, tol: float,
            solver: str = "newton-cholesky", init: tuple[np.ndarray, float] | None = None):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, class_weight="balanced" if balanced else None, solver=solver,
                             max_iter=max_iter, tol=tol, warm_start=init is not None)
    if init is not None:
        clf.coef_ = init[0].reshape(1, -1).astype(X.dtype).copy()
        clf.intercept_ = np.array([init[1]], dtype=X.dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(X, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return clf, converged


def fit_probe(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray | None = None,
              y_val: np.ndarray | None = None, *, Cs: Sequence[float] = DEFAULT_CS,
              max_train: int | None = None, seed: int = 0, fast: bool = False,
              grid_n_train: int = GRID_N_TRAIN, max_iter: int = 100, tol: float = 1e-4) -> LinearProbe:
    """Fit a logistic-regression probe on clip embeddings.

    Default mode: features standardised with the training mean and standard deviation,
    ``class_weight="balanced"``, L2 penalty, solved with scikit-learn's ``newton-cholesky``
    (a few Newton steps, insensitive to how correlated the embedding's features are; lbfgs
    needs hundreds of iterations on such features). ``C`` is chosen from ``Cs`` by val ROC
    AUC, each candidate fitted on a seeded subsample of ``grid_n_train`` training clips
    (warm-started along the grid); the chosen ``C`` is then refitted on all the training
    clips, warm-started from its grid solution. Without val (or with a val of one class)
    ``C = 1``.

    ``fast=True`` is the prototype's sanity check: the first 20,000 training clips (or
    ``max_train``), raw features, ``C = 1``, no class weights, lbfgs with ``max_iter=200``.

    Parameters
    ----------
    X_train : array-like, shape (N, D)
        Embeddings (a float16 memmap is read in chunks); rows with a NaN (failed clips) are
        left out and counted.
    y_train : array-like of {0, 1}, shape (N,)
    X_val, y_val : array-like, shape (M, D) and (M,), optional
        Used only to choose ``C``.
    Cs : sequence of float
        Candidate inverse regularisation strengths (positive).
    max_train : int, optional
        Fit on a seeded random subsample of this many finite training clips; None: all.
    seed : int
        Seed of the subsamples; the fit itself is deterministic.
    fast : bool
    grid_n_train : int
        Size of the training subsample the ``C`` grid is fitted on.
    max_iter, tol : int, float
        Solver settings of the grid fits and the final fit.

    Returns
    -------
    LinearProbe
        Memory: the training clips are held once as float32 (N x D x 4 bytes).
    """
    X_train = _check_2d(X_train, "X_train")
    y_train = _check_labels(y_train, len(X_train), "y_train")
    Cs = [float(c) for c in Cs]
    if not Cs or any(not np.isfinite(c) or c <= 0 for c in Cs):
        raise ValueError(f"Cs must be positive numbers, got Cs={Cs!r}")
    if max_train is not None and int(max_train) < 2:
        raise ValueError(f"max_train must be None or at least 2, got max_train={max_train!r}")
    seed = int(seed)
    ok = _finite_rows(X_train)
    n_failed = int((~ok).sum())
    idx = np.flatnonzero(ok)
    if fast:
        n = FAST_N_TRAIN if max_train is None else int(max_train)
        idx = idx[:n]
    elif max_train is not None and len(idx) > int(max_train):
        rng = np.random.default_rng([seed, 1])
        idx = np.sort(rng.choice(idx, int(max_train), replace=False))
    y = y_train[idx]
    if np.unique(y).size < 2:
        raise ValueError(f"the {len(idx)} training clips used hold only y={np.unique(y).tolist()}: "
                         "a probe needs normal and anomalous training clips (check the train split)")
    settings: dict[str, Any] = {"mode": "fast" if fast else "full", "max_train": None if max_train is None
                                else int(max_train), "seed": seed, "n_train": int(len(idx)),
                                "n_train_failed": n_failed}
    X = _gather_f32(X_train, idx)
    D = X.shape[1]

    if fast:
        clf, conv = _fit_lr(X, y, 1.0, balanced=False, max_iter=200, tol=1e-4, solver="lbfgs")
        settings.update(C=1.0, C_grid=None, val_auc_by_C=None, class_weight=None, standardize=False,
                        solver="lbfgs", grid_n_train=None, max_iter=200, tol=1e-4, n_iter=int(clf.n_iter_[0]),
                        converged=conv, C_note="fast mode: C = 1 without a search")
        return LinearProbe(mean=np.zeros(D), scale=np.ones(D), coef=clf.coef_[0].astype(np.float64),
                           intercept=float(clf.intercept_[0]), settings=settings)

    mean, scale = _mean_scale(X)
    _standardize_inplace(X, mean, scale)
    Xv = yv = None
    if X_val is not None and y_val is not None:
        X_val = _check_2d(X_val, "X_val", D)
        yv_all = _check_labels(y_val, len(X_val), "y_val")
        okv = np.flatnonzero(_finite_rows(X_val))
        if np.unique(yv_all[okv]).size == 2:
            Xv = _gather_f32(X_val, okv)
            _standardize_inplace(Xv, mean, scale)
            yv = yv_all[okv]
    val_auc: dict[str, float] | None = None
    init = None
    if Xv is not None and len(Cs) > 1:
        if len(idx) > grid_n_train:
            rng = np.random.default_rng([seed, 2])
            sub = np.sort(rng.choice(len(idx), grid_n_train, replace=False))
            Xg, yg = X[sub], y[sub]
        else:
            Xg, yg = X, y
        val_auc, sols = {}, {}
        prev = None
        for C in sorted(Cs):
            clf, _ = _fit_lr(Xg, yg, C, balanced=True, max_iter=int(max_iter), tol=float(tol), init=prev)
            prev = (clf.coef_[0].copy(), float(clf.intercept_[0]))
            val_auc[repr(C)] = float(_auc(yv, Xv @ clf.coef_[0] + clf.intercept_[0]))
            sols[C] = prev
        best = max(sorted(Cs), key=lambda c: (val_auc[repr(c)], -c))  # ties: the smaller C
        init = sols[best]
        grid_n = int(len(yg))
        del Xg
    else:
        best = Cs[0] if len(Cs) == 1 else 1.0
        grid_n = None
    clf, conv = _fit_lr(X, y, best, balanced=True, max_iter=int(max_iter), tol=float(tol), init=init)
    settings.update(C=best, C_grid=sorted(Cs), val_auc_by_C=val_auc, class_weight="balanced", standardize=True,
                    solver="newton-cholesky", grid_n_train=grid_n, max_iter=int(max_iter), tol=float(tol),
                    n_iter=int(clf.n_iter_[0]), converged=conv,
                    C_note=("no val clips of both classes: C = 1 was used without a search"
                            if val_auc is None and len(Cs) > 1 else None))
    return LinearProbe(mean=mean, scale=scale, coef=clf.coef_[0].astype(np.float64),
                       intercept=float(clf.intercept_[0]), settings=settings)


# ============================================================================ the run

METRIC_KEYS = ("clip_auc_val", "clip_auc_test", "clip_ap_val", "clip_ap_test", "video_auc_test",
               "video_auc_test_mean", "video_auc_val", "video_auc_val_mean") + FRAME_KEYS + (
               "per_category_auc_test", "per_category_auc_val")
"""The metric keys of ``metrics.json``, the same for every head."""

HEADS = ("linear", "mil")
HEAD_DIRS = {"linear": "probe", "mil": "probe-mil"}
"""Where each head writes under ``out_dir``."""

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
    """

    metrics: dict
    scores: dict
    probe: Any
    intervals: dict | None
    paths: dict

    @property
    def head(self) -> str:
        return str(self.metrics.get("head", "linear"))

    @property
    def missing_reasons(self) -> dict[str, str]:
        return dict(self.metrics.get("missing_reasons", {}))

    def metrics_table(self) -> pd.DataFrame:
        """The headline metrics as a table: metric, val, test (see :func:`metrics_frame`)."""
        return metrics_frame(self.metrics)

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
    from .store import read_manifest

    return {s for s, e in (read_manifest(source).get("splits") or {}).items() if e and e.get("complete")}


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def _write_scores(path: Path, df: pd.DataFrame) -> None:
    out = pd.DataFrame({"row": df.index.to_numpy(dtype=np.int64), "video": df["video"].astype(str).to_numpy(),
                        "clip_idx": df["clip_idx"].to_numpy(), "y": df["y"].to_numpy(),
                        "score": df["score"].to_numpy()})
    tmp = path.with_name(f".{path.name}.tmp")
    out.to_csv(tmp, index=False)
    os.replace(tmp, path)


def _video_bags(X: np.ndarray, rows: pd.DataFrame) -> tuple[list[str], list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """Split a split's rows by video: names, per-video embeddings (clips in temporal order),
    video labels (1 unless Normal) and each video's row positions in ``X``."""
    pos = np.arange(len(rows))
    order = np.lexsort((rows["start_frame"].to_numpy(), rows["video"].astype(str).to_numpy()))
    names = rows["video"].astype(str).to_numpy()[order]
    cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
    groups = np.split(pos[order], cuts) if len(order) else []
    label = _category_label(rows)
    videos, bags, labels = [], [], []
    for g in groups:
        videos.append(str(rows["video"].iloc[int(g[0])]))
        contiguous = bool((np.diff(g) == 1).all())
        bags.append(X[int(g[0]):int(g[-1]) + 1] if contiguous else np.asarray(X[g]))
        labels.append(int(label[g].max()))
    return videos, bags, np.asarray(labels, dtype=np.int8), groups


def _fit_mil_head(loaded_train, loaded_val, *, seed: int, mil_params: Mapping[str, Any] | None):
    from .mil import fit_mil

    X_tr, _, rows_tr = loaded_train
    _, bags, labels, _ = _video_bags(X_tr, rows_tr)
    kw = dict(mil_params or {})
    if loaded_val is not None:
        Xv, _, rows_v = loaded_val
        _, vb, vl, _ = _video_bags(Xv, rows_v)
        if np.unique(vl).size == 2:
            kw.update(val_bags=vb, val_labels=vl)
    return fit_mil(bags, labels, seed=seed, **kw)


def _mil_scores(head, X: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
    out = np.full(len(rows), np.nan)
    _, bags, _, groups = _video_bags(X, rows)
    for bag, g in zip(bags, groups):
        out[g] = head.score(bag)
    return out


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


def run_probe(out_dir: str | os.PathLike = "processed", manifest: str | os.PathLike | None = None,
              annotation_path: str | os.PathLike | None = None, max_train: int | None = None,
              seed: int = 0, fast: bool = False, *, head: str = "linear", Cs: Sequence[float] = DEFAULT_CS,
              mil_params: Mapping[str, Any] | None = None, n_boot: int = 1000) -> ProbeResult:
    """Fit a head on a run's embeddings, score val and test, and write its metrics.

    Reads train, val and test with :func:`ucf_nb.load_embeddings` (train is required; a
    split not extracted makes its metrics missing), fits the head, scores val and test,
    computes :func:`evaluate_probe` and writes, into ``out_dir/probe`` (``head="linear"``)
    or ``out_dir/probe-mil`` (``head="mil"``):

    - ``metrics.json``: the metrics of :data:`METRIC_KEYS` (the same keys for every head;
      the headline is ``frame_auc_test_field``), ``head``, ``seed``, ``settings`` (how the
      head was fitted), ``annotation_path``, ``counts``, ``frame_level``,
      ``missing_reasons``, ``embeddings`` (what was probed), ``versions`` and ``timing``
      (seconds; the only part that changes between two identical runs);
    - ``scores_{val,test}.csv``: columns ``row`` (index row number), ``video``,
      ``clip_idx``, ``y``, ``score`` (anomaly score in [0, 1]; empty for failed clips).

    Heads:

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
    head : {"linear", "mil"}
    mil_params : mapping, optional
        Extra keyword arguments of :func:`ucf_nb.fit_mil` (e.g. ``max_iter``).
    n_boot : int
        Bootstrap resamples behind each frame AUC's confidence interval.

    Returns
    -------
    ProbeResult
    """
    from . import __version__
    from .paths import display_path, resolve_path

    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got head={head!r}")
    if head == "mil" and (fast or max_train is not None):
        raise ValueError("fast and max_train apply to the linear head only: leave them at their defaults "
                         "with head='mil'")
    t0 = time.perf_counter()
    out = resolve_path(out_dir)
    source = resolve_path(manifest) if manifest is not None else out
    intervals = None
    if annotation_path is not None:
        from .index import read_temporal_annotation

        ann = read_temporal_annotation(annotation_path)
        intervals = {name: [tuple(iv) for iv in a.intervals] for name, a in ann.items()}

    from .store import load_embeddings, read_manifest

    finished = _finished_splits(source)
    if "train" not in finished:
        raise FileNotFoundError(f"the train split of {display_path(source)} is not finished: run "
                                "notebooks/02_extract.ipynb with split='train' first")
    X_tr, y_tr, rows_tr = load_embeddings(source, "train")
    loaded = {s: load_embeddings(source, s) if s in finished else None for s in ("val", "test")}
    t_load = time.perf_counter()
    if head == "linear":
        X_va, y_va = (loaded["val"][0], loaded["val"][1]) if loaded["val"] else (None, None)
        fitted = fit_probe(X_tr, y_tr, X_va, y_va, Cs=Cs, max_train=max_train, seed=seed, fast=fast)
        settings = dict(fitted.settings)
        n_tr_failed = settings["n_train_failed"]
        scorer = {s: fitted.predict_proba for s in ("val", "test")}
    else:
        fitted = _fit_mil_head((X_tr, y_tr, rows_tr), loaded["val"], seed=seed, mil_params=mil_params)
        settings = dict(fitted.settings)
        settings["val_scored_by"] = ("the head fitted on train only (chosen on val)" if fitted.selected is not None
                                     else "the head itself")
        n_tr_failed = int((~_finite_rows(X_tr)).sum())
        val_head = fitted.selected if fitted.selected is not None else fitted
        scorer = {"val": lambda X, rows, h=val_head: _mil_scores(h, X, rows),
                  "test": lambda X, rows, h=fitted: _mil_scores(h, X, rows)}
    t_fit = time.perf_counter()
    del X_tr

    scores: dict[str, pd.DataFrame] = {}
    for split, got in loaded.items():
        if got is None:
            continue
        X, y, rows = got
        keep = [c for c in ("split", "y", "category", "video", "clip_idx", "start_frame", "end_frame",
                            "n_frames", "anomaly_frac") if c in rows.columns]
        df = rows[keep].copy()
        df["y"] = np.asarray(y).astype(np.int64)
        df["score"] = scorer[split](X) if head == "linear" else scorer[split](X, rows)
        scores[split] = df
    metrics = evaluate_probe(scores, intervals, n_boot=n_boot, seed=seed)
    t_eval = time.perf_counter()

    man = read_manifest(source)
    result: dict[str, Any] = {k: metrics[k] for k in METRIC_KEYS}
    result["head"] = head
    result["seed"] = int(seed)
    result["settings"] = _jsonable({k: v for k, v in settings.items() if k != "fit_s"})
    result["annotation_path"] = display_path(resolve_path(annotation_path)) if annotation_path else None
    result["counts"] = {"train": {"n_clips": int(len(y_tr)), "n_scored": int(len(y_tr)) - n_tr_failed,
                                  "n_failed": n_tr_failed, "n_videos": int(rows_tr["video"].nunique())},
                        **metrics["counts"]}
    result["frame_level"] = metrics["frame_level"]
    result["missing_reasons"] = metrics["missing_reasons"]
    result["embeddings"] = {"source": display_path(source), "checkpoint": man.get("model", {}).get("checkpoint"),
                            "embedding_dim": man.get("embedding_dim"), "pooling": man.get("pooling"),
                            "index_sha256": man.get("index", {}).get("sha256")}
    result["versions"] = {"ucf_nb": __version__, "scikit-learn": _version("sklearn"), "numpy": np.__version__,
                          "torch": _version("torch") if head == "mil" else None}
    result["timing"] = {"load_s": round(t_load - t0, 3), "fit_s": round(t_fit - t_load, 3),
                        "score_and_metrics_s": round(t_eval - t_fit, 3)}

    probe_dir = out / HEAD_DIRS[head]
    probe_dir.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": probe_dir / "metrics.json"}
    for split, df in scores.items():
        paths[f"scores_{split}"] = probe_dir / f"scores_{split}.csv"
        _write_scores(paths[f"scores_{split}"], df)
    _write_json(paths["metrics"], result)
    return ProbeResult(metrics=result, scores=scores, probe=fitted, intervals=intervals, paths=paths)


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # pragma: no cover
        return None
