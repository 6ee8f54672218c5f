"""The metrics UCF-Crime results are reported in: pure functions, arrays and DataFrames in,
numbers out (:func:`clip_metrics`, :func:`per_category_auc`, :func:`video_auc`,
:func:`frame_scores`, :func:`frame_level_auc`, :func:`evaluate_probe`).

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

The field's protocol
--------------------
Papers that report a frame-level AUC on UCF-Crime (Sultani et al. 2018, RTFM, UR-DMU,
VadCLIP...) build their ground truth from features of non-overlapping 16-frame blocks: a video
of ``n`` frames has ``floor(n / 16)`` blocks, its scores are repeated 16 times
(``np.repeat(scores, 16)``) and only the frames ``f < 16 * floor(n / 16)`` take part; the
annotation's frame numbers are 0-based with both ends inclusive. :func:`frame_metrics` names
that convention (``"field"``, the headline ``frame_auc_test_field``) beside the book's own
(``"all"``: every decoded frame), and adds what a ranking of encoders needs beside an AUC: a
bootstrap confidence interval over test videos (:func:`auc_bootstrap_ci`) and the false-alarm
rate at a threshold on the frames of normal videos (:func:`false_alarm_rate`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .annotations import SPLITS, frame_labels

__all__ = [
    "clip_metrics",
    "per_category_auc",
    "video_auc",
    "video_table",
    "frame_scores",
    "frame_level_auc",
    "annotation_coverage",
    "evaluate_probe",
    "FRAME_KEYS",
    # the field's frame-level protocol
    "FIELD_BLOCK",
    "CONVENTIONS",
    "FrameTable",
    "field_frame_count",
    "frame_table",
    "weighted_auc",
    "auc_bootstrap_ci",
    "false_alarm_rate",
    "frame_metrics",
]

NORMAL = "Normal"
FRAME_KEYS = ("frame_auc_test_field", "frame_auc_test_field_ci95", "frame_far_test_field",
              "frame_auc_test", "frame_auc_test_ci95", "frame_far_test",
              "frame_auc_test_anomalous", "frame_auc_test_anomalous_ci95")
"""The frame-level keys of :func:`evaluate_probe`, headline first."""
SCORED_SPLITS: tuple[str, ...] = SPLITS[1:]  # val and test: the splits a probe scores
_QUANT_BITS = 36  # frame-score sums are exact integers at 2**-36 of the largest |score|


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
    labels = np.zeros(int(ax.offsets[-1]), np.int8)
    anomalous = np.zeros(len(ax.videos), bool)
    for v, name in enumerate(ax.videos):
        a, b = int(ax.offsets[v]), int(ax.offsets[v + 1])
        labels[a:b] = frame_labels(_intervals_of(intervals[name]), b - a)
        anomalous[v] = bool(labels[a:b].any())
    return labels, anomalous


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
        (empty for normal videos), or the :class:`ucf_nb.annotations.VideoAnnotation` values of
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
        and their seed (see :func:`auc_bootstrap_ci`).

    Returns
    -------
    dict
        ``clip_auc_{s}``, ``clip_ap_{s}``, ``video_auc_{s}`` (max-pooled),
        ``video_auc_{s}_mean`` (mean-pooled) and ``per_category_auc_{s}`` for s in val, test;
        the frame-level metrics of :data:`FRAME_KEYS`: ``frame_auc_test_field`` (the field's
        convention: frames before the last full 16-frame block; the headline),
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
    for split in SCORED_SPLITS:
        _split_metrics(scored.get(split), split, out, why, counts)
    _frame_metrics(scored.get("test"), intervals, out, why, n_boot=n_boot, seed=seed)
    out["counts"] = counts
    out["missing_reasons"] = why
    return out


def _split_metrics(df: pd.DataFrame | None, split: str, out: dict[str, Any], why: dict[str, str],
                   counts: dict[str, Any]) -> None:
    """Clip, video and per-category metrics of one scored split into ``out``; reasons for the
    missing ones into ``why``; its counts into ``counts``."""
    keys = [f"clip_auc_{split}", f"clip_ap_{split}", f"video_auc_{split}", f"video_auc_{split}_mean"]
    if df is None:
        for k in keys:
            out[k] = None
            why[k] = f"the {split} split has no embeddings (extract it with notebooks/02_extract.ipynb)"
        out[f"per_category_auc_{split}"] = {}
        return
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


def _frame_metrics(test: pd.DataFrame | None, intervals: Mapping[str, Any] | None, out: dict[str, Any],
                   why: dict[str, str], *, n_boot: int = 1000, seed: int = 0) -> None:
    """The frame-level metrics of the scored test split (:data:`FRAME_KEYS`) into ``out``
    (reasons for missing ones into ``why``)."""
    for k in FRAME_KEYS:
        out[k] = None
    out["frame_level"] = None
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


# ============================================================================ the field's protocol

FIELD_BLOCK = 16
"""Frames per feature block in the field's code (C3D / I3D snippets of 16 frames)."""

CONVENTIONS = ("all", "field")

DEFAULT_N_BOOT = 1000
"""Bootstrap resamples of the test videos behind each confidence interval."""


def field_frame_count(n_frames: int | np.ndarray, block: int = FIELD_BLOCK) -> int | np.ndarray:
    """Frames of a video the field's ground truth covers: ``block * floor(n_frames / block)``.

    Parameters
    ----------
    n_frames : int or array of int
        Decoded frames of the video(s), ``>= 0``.
    block : int
        Frames per feature block (16).

    Returns
    -------
    int or numpy.ndarray of int64
        The frames ``0 <= f < result`` are evaluated; the last partial block is left out.
    """
    if int(block) < 1:
        raise ValueError(f"block must be a positive number of frames, got block={block!r}")
    n = np.asarray(n_frames, dtype=np.int64)
    if (n < 0).any():
        raise ValueError(f"n_frames must be >= 0, got {n_frames!r}")
    out = int(block) * (n // int(block))
    return int(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class FrameTable:
    """The evaluated frames of some test videos, concatenated in ``videos`` order.

    Attributes
    ----------
    videos : numpy.ndarray of str, shape (V,)
        Video names, sorted.
    video : numpy.ndarray of int64, shape (F,)
        Index into ``videos`` of each frame.
    frame : numpy.ndarray of int64, shape (F,)
        Frame number within its video (0-based).
    label : numpy.ndarray of int8, shape (F,)
        1 inside an annotated interval.
    score : numpy.ndarray of float64, shape (F,)
        :func:`ucf_nb.frame_scores`; NaN for a video without a scored clip.
    covered : numpy.ndarray of bool, shape (F,)
        Some clip covers the frame (else it took the nearest clip's score).
    anomalous : numpy.ndarray of bool, shape (V,)
        The video has an annotated interval inside its frames (its test-set category is an
        anomaly); the others are the normal videos of the false-alarm rate.
    n_frames : numpy.ndarray of int64, shape (V,)
        Evaluated frames per video (``n_frames`` or :func:`field_frame_count` of it).
    """

    videos: np.ndarray
    video: np.ndarray
    frame: np.ndarray
    label: np.ndarray
    score: np.ndarray
    covered: np.ndarray
    anomalous: np.ndarray
    n_frames: np.ndarray


def frame_table(scored: pd.DataFrame, intervals: Mapping[str, Any], *, convention: str = "field",
                block: int = FIELD_BLOCK) -> FrameTable:
    """Per-frame labels and scores of the test videos under one convention.

    Parameters
    ----------
    scored : pandas.DataFrame
        Test index rows with a ``score`` column (columns ``video``, ``start_frame``,
        ``end_frame``, ``score``, optionally ``n_frames``), as for :func:`ucf_nb.frame_scores`.
    intervals : mapping
        Video name -> half-open intervals ``[(start, end_exclusive), ...]`` or
        :class:`ucf_nb.VideoAnnotation`; every video of ``scored`` must be in it.
    convention : {"field", "all"}
        ``"field"``: frames before the last full ``block``-frame block; ``"all"``: every frame.
    block : int

    Returns
    -------
    FrameTable
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got convention={convention!r}")
    if not isinstance(intervals, Mapping):
        raise TypeError(f"intervals must be a mapping video name -> [(start, end_exclusive), ...], "
                        f"got {type(intervals).__name__}")
    ax = _frame_axis(scored)
    absent = [v for v in ax.videos if v not in intervals]
    if absent:
        raise ValueError(f"{len(absent)} scored video(s) have no entry in intervals (e.g. {absent[0]!r}): "
                         "pass the temporal annotation of every test video")
    labels, anomalous = _frame_ground_truth(ax, intervals)
    n_all = np.diff(ax.offsets)
    video = np.repeat(np.arange(len(ax.videos), dtype=np.int64), n_all)
    frame = np.arange(int(ax.offsets[-1]), dtype=np.int64) - ax.offsets[video]
    n_eval = field_frame_count(n_all, block) if convention == "field" else n_all
    keep = frame < np.asarray(n_eval)[video]
    label = labels[keep]
    return FrameTable(videos=ax.videos, video=video[keep], frame=frame[keep], label=label,
                      score=ax.score[keep], covered=ax.covered[keep], anomalous=anomalous,
                      n_frames=np.asarray(n_eval, dtype=np.int64))


# ------------------------------------------------------------------------------ AUC and CI

def _tie_groups(score: np.ndarray) -> tuple[np.ndarray, int]:
    """Rank group of each score (equal scores share a group), and the number of groups."""
    uniq, inv = np.unique(score, return_inverse=True)
    return inv.reshape(-1).astype(np.int64), len(uniq)


def _grouped_auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """AUC from per-score-group positive and negative weights (groups in ascending score)."""
    P, N = float(pos.sum()), float(neg.sum())
    if P <= 0 or N <= 0:
        return None
    below = np.cumsum(neg) - neg
    return float(np.dot(pos, below + 0.5 * neg) / (P * N))


def weighted_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float | None:
    """ROC AUC with ties counted half, optionally with a non-negative weight per sample.

    Equal to :func:`sklearn.metrics.roc_auc_score` without weights (and with integer weights,
    to repeating each sample that many times).

    Parameters
    ----------
    labels : array of {0, 1}, shape (N,)
    scores : array of float, shape (N,)
        Finite.
    weights : array of float, shape (N,), optional

    Returns
    -------
    float or None
        None when the (weighted) samples hold a single class.
    """
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if not len(labels) == len(scores) == len(w):
        raise ValueError(f"labels, scores and weights have {len(labels)}, {len(scores)} and {len(w)} "
                         "entries: pass one of each per sample")
    if not np.isfinite(scores).all():
        raise ValueError("scores hold NaN or infinite values: drop the unscored samples first")
    g, G = _tie_groups(scores)
    pos = np.bincount(g, weights=w * (labels == 1), minlength=G)
    neg = np.bincount(g, weights=w * (labels != 1), minlength=G)
    return _grouped_auc(pos, neg)


def _video_pair_counts(labels: np.ndarray, scores: np.ndarray, vid: np.ndarray, V: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise ranking counts between videos, the sufficient statistics of a video bootstrap.

    Returns ``A`` (V, V): ``A[i, j]`` = pairs (positive frame of video i, negative frame of
    video j) with the positive scored higher, ties counting one half; and the positive and
    negative frame counts per video. For integer video multiplicities ``m`` (a resample), the
    AUC of the resampled frames is ``m @ A @ m / ((m @ pos) * (m @ neg))``.
    """
    g, _ = _tie_groups(scores)
    is_pos = labels == 1
    pos_v = np.bincount(vid, weights=is_pos.astype(np.float64), minlength=V)
    neg_v = np.bincount(vid, weights=(~is_pos).astype(np.float64), minlength=V)
    gp, gp_idx = np.unique(g[is_pos], return_inverse=True)        # score groups holding a positive
    Pos = np.zeros((V, len(gp)))
    np.add.at(Pos, (vid[is_pos], gp_idx.reshape(-1)), 1.0)
    # for each video, negatives strictly below each positive group, and tied with it
    NB = np.zeros((V, len(gp)))
    order = np.lexsort((g[~is_pos], vid[~is_pos]))
    nv, ng = vid[~is_pos][order], g[~is_pos][order]
    bounds = np.searchsorted(nv, np.arange(V + 1))
    for v in range(V):
        gv = ng[bounds[v]:bounds[v + 1]]
        if len(gv) == 0:
            continue
        below = np.searchsorted(gv, gp, side="left")
        upto = np.searchsorted(gv, gp, side="right")
        NB[v] = below + 0.5 * (upto - below)
    return Pos @ NB.T, pos_v, neg_v


def auc_bootstrap_ci(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray, *,
                     n_boot: int = DEFAULT_N_BOOT, seed: int = 0, level: float = 0.95
                     ) -> dict[str, Any]:
    """Percentile bootstrap confidence interval of a ROC AUC, resampling whole groups (videos).

    Each resample draws as many groups as there are, with replacement (seeded); a frame counts
    as often as its video was drawn. Resamples holding a single class are skipped and counted.
    Exact for every resample, and fast: the AUC of a resample is a quadratic form in the
    videos' multiplicities over pairwise counts between videos computed once.

    Parameters
    ----------
    labels : array of {0, 1}, shape (F,)
    scores : array of float, shape (F,)
        Finite.
    groups : array of int or str, shape (F,)
        The video of each frame.
    n_boot : int
        Number of resamples.
    seed : int
    level : float
        Coverage of the interval, in (0, 1).

    Returns
    -------
    dict
        ``ci`` ([low, high], None when no resample held both classes), ``n_boot``,
        ``n_skipped``, ``seed``, ``level``.
    """
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    groups = np.asarray(groups).reshape(-1)
    if not len(labels) == len(scores) == len(groups):
        raise ValueError(f"labels, scores and groups have {len(labels)}, {len(scores)} and {len(groups)} "
                         "entries: pass one of each per frame")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be at least 1, got n_boot={n_boot!r}")
    if not 0 < float(level) < 1:
        raise ValueError(f"level must lie in (0, 1), e.g. 0.95, got level={level!r}")
    if not np.isfinite(scores).all():
        raise ValueError("scores hold NaN or infinite values: drop the unscored frames first")
    out = {"ci": None, "n_boot": int(n_boot), "n_skipped": int(n_boot), "seed": int(seed), "level": float(level)}
    if len(labels) == 0:
        return out
    _, vid = np.unique(groups, return_inverse=True)
    vid = vid.reshape(-1).astype(np.int64)
    V = int(vid.max()) + 1
    A, pos_v, neg_v = _video_pair_counts(labels, scores, vid, V)
    rng = np.random.default_rng([int(seed), 7])
    aucs = []
    for a in range(0, int(n_boot), 256):
        b = min(a + 256, int(n_boot))
        M = np.stack([np.bincount(rng.integers(0, V, V), minlength=V) for _ in range(b - a)]).astype(np.float64)
        num = np.einsum("bi,ij,bj->b", M, A, M)
        den = (M @ pos_v) * (M @ neg_v)
        ok = den > 0
        aucs.append(num[ok] / den[ok])
    aucs = np.concatenate(aucs)
    if len(aucs):
        tail = (1 - float(level)) / 2
        lo, hi = np.quantile(aucs, [tail, 1 - tail])
        out["ci"] = [float(lo), float(hi)]
    out["n_skipped"] = int(n_boot) - len(aucs)
    return out


def false_alarm_rate(scores: np.ndarray, *, threshold: float = 0.5) -> float | None:
    """Fraction of frames flagged anomalous (``score >= threshold``) among normal frames.

    Pass the frame scores of the normal test videos: Sultani et al. and RTFM report this at
    ``threshold = 0.5`` on scores in [0, 1].

    Parameters
    ----------
    scores : array of float, shape (F,)
        NaN entries (unscored frames) are left out.
    threshold : float

    Returns
    -------
    float or None
        None when no finite score is given.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    s = s[np.isfinite(s)]
    if len(s) == 0:
        return None
    return float(np.mean(s >= float(threshold)))


def frame_metrics(scored: pd.DataFrame, intervals: Mapping[str, Any], *, convention: str = "field",
                  anomalous_only: bool = False, n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                  threshold: float = 0.5, block: int = FIELD_BLOCK) -> dict[str, Any]:
    """Frame-level AUC, its bootstrap CI over test videos and the false-alarm rate, one convention.

    Parameters
    ----------
    scored, intervals, convention, block
        See :func:`frame_table`.
    anomalous_only : bool
        Only the videos with an annotated interval (the
        false-alarm rate is then None: there is no normal video).
    n_boot, seed
        See :func:`auc_bootstrap_ci`.
    threshold : float
        Of the false-alarm rate.

    Returns
    -------
    dict
        ``auc`` (None when the frames hold one class), ``ci95`` ([low, high] or None), ``far``
        (on the frames of normal videos, None without any), ``details``: ``convention``,
        ``n_videos``, ``n_frames``, ``n_frames_anomalous``, ``n_frames_uncovered``,
        ``n_videos_unscored``, ``n_frames_normal_videos``, ``threshold``, ``n_boot``,
        ``n_boot_skipped``, ``seed``.
    """
    t = frame_table(scored, intervals, convention=convention, block=block)
    finite = np.isfinite(t.score)
    in_scope = t.anomalous if anomalous_only else np.ones(len(t.videos), bool)
    sel = finite & in_scope[t.video]
    scored_videos = np.zeros(len(t.videos), bool)
    scored_videos[np.unique(t.video[finite])] = True
    auc = weighted_auc(t.label[sel], t.score[sel]) if sel.any() else None
    boot = auc_bootstrap_ci(t.label[sel], t.score[sel], t.video[sel], n_boot=n_boot, seed=seed)
    normal_frames = sel & ~t.anomalous[t.video]
    far = None if anomalous_only else false_alarm_rate(t.score[normal_frames], threshold=threshold)
    details = {"convention": convention, "n_videos": int((in_scope & scored_videos).sum()),
               "n_frames": int(sel.sum()), "n_frames_anomalous": int(t.label[sel].sum()),
               "n_frames_uncovered": int((sel & ~t.covered).sum()),
               "n_videos_unscored": int((in_scope & ~scored_videos).sum()),
               "n_frames_normal_videos": int(normal_frames.sum()), "threshold": float(threshold),
               "n_boot": boot["n_boot"], "n_boot_skipped": boot["n_skipped"], "seed": int(seed)}
    return {"auc": auc, "ci95": boot["ci"] if auc is not None else None, "far": far, "details": details}
