"""The frame axis both frame-level protocols stand on (:mod:`ucf_nb.evaluate.metrics`, every
decoded frame, and :mod:`ucf_nb.evaluate.field`, the field's 16-frame blocks): the clips' scores
spread onto the frames of their videos, the annotation's ground truth on the same frames, and the
checks of the scored tables. Internal (names public to the evaluate stage, not to users).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..index.annotations import frame_labels

FRAME_KEYS = (
    "frame_auc_test_field",
    "frame_auc_test_field_ci95",
    "frame_far_test_field",
    "frame_auc_test",
    "frame_auc_test_ci95",
    "frame_far_test",
    "frame_auc_test_anomalous",
    "frame_auc_test_anomalous_ci95",
)
"""The frame-level keys of :func:`evaluate_probe`, headline first."""
_QUANT_BITS = 36  # frame-score sums are exact integers at 2**-36 of the largest |score|


def need_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"{what} must be a pandas DataFrame (index rows plus a 'score' column), got {type(df).__name__}"
        )
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what} lacks the column(s) {missing}: pass the rows DataFrame of "
            "load_embeddings with a 'score' column added"
        )


def intervals_of(value: Any) -> list[tuple[int, int]]:
    """Intervals from a plain list of pairs or an object with ``.intervals`` (VideoAnnotation)."""
    items = getattr(value, "intervals", value)
    out = []
    for pair in items or ():
        start, end = (int(v) for v in pair)
        out.append((start, end))
    return out


@dataclass(frozen=True)
class FrameAxis:
    """All frames of some videos, concatenated in ``videos`` order."""

    videos: np.ndarray  # (V,) names
    offsets: np.ndarray  # (V + 1,) int64; video v owns frames [offsets[v], offsets[v+1])
    score: np.ndarray  # (F,) float64, NaN for videos without a scored clip
    covered: np.ndarray  # (F,) bool, some clip covers the frame


def frame_axis(scored: pd.DataFrame) -> FrameAxis:
    need_columns(scored, ("video", "start_frame", "end_frame", "score"), "scored")
    names, codes = np.unique(scored["video"].astype(str).to_numpy(), return_inverse=True)
    start = scored["start_frame"].to_numpy(dtype=np.int64)
    end = scored["end_frame"].to_numpy(dtype=np.int64)
    if (end <= start).any() or (start < 0).any():
        i = int(np.flatnonzero((end <= start) | (start < 0))[0])
        raise ValueError(
            f"row {scored.index[i]} of scored has start_frame={start[i]}, "
            f"end_frame={end[i]}: clips need 0 <= start_frame < end_frame"
        )
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
    keep = b_ > a_  # clips starting past n_frames cover nothing
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
    return FrameAxis(videos=names, offsets=offsets, score=score, covered=covered)


def frame_ground_truth(ax: FrameAxis, intervals: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(labels (F,) int8, video_is_anomalous (V,) bool) on the frame axis."""
    labels = np.zeros(int(ax.offsets[-1]), np.int8)
    anomalous = np.zeros(len(ax.videos), bool)
    for v, name in enumerate(ax.videos):
        a, b = int(ax.offsets[v]), int(ax.offsets[v + 1])
        labels[a:b] = frame_labels(intervals_of(intervals[name]), b - a)
        anomalous[v] = bool(labels[a:b].any())
    return labels, anomalous


def labelled_frame_axis(scored: pd.DataFrame, intervals: Mapping[str, Any]) -> tuple[FrameAxis, np.ndarray, np.ndarray]:
    """The frame axis of ``scored`` with its ground truth (see :func:`frame_ground_truth`);
    ``intervals`` checked to be a mapping holding every scored video."""
    if not isinstance(intervals, Mapping):
        raise TypeError(
            f"intervals must be a mapping video name -> [(start, end_exclusive), ...], got {type(intervals).__name__}"
        )
    ax = frame_axis(scored)
    absent = [v for v in ax.videos if v not in intervals]
    if absent:
        raise ValueError(
            f"{len(absent)} scored video(s) have no entry in intervals (e.g. {absent[0]!r}): "
            "pass the temporal annotation of every test video"
        )
    labels, anomalous = frame_ground_truth(ax, intervals)
    return ax, labels, anomalous


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
    return {
        "n_annotated": len(ann),
        "n_test_videos": len(test),
        "not_in_test": sorted(ann - test),
        "not_annotated": sorted(test - ann),
    }


def examples(names: Sequence[str], k: int = 3) -> str:
    shown = ", ".join(names[:k])
    return shown + (", ..." if len(names) > k else "")
