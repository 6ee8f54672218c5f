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

The field's protocol (16-frame blocks, bootstrap CIs, false-alarm rate) lives in
:mod:`ucf_nb.evaluate.field`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..index.annotations import SPLITS
from ._frames import FRAME_KEYS, annotation_coverage, frame_axis, labelled_frame_axis, need_columns
from .field import put_frame_metrics

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
]

NORMAL = "Normal"
SCORED_SPLITS: tuple[str, ...] = SPLITS[1:]  # val and test: the splits a probe scores


def auc_or_none(y: np.ndarray, score: np.ndarray) -> float | None:
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


def _scored_only(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with a finite score."""
    return df[np.isfinite(df["score"].to_numpy(dtype=np.float64))]


def category_label(df: pd.DataFrame) -> np.ndarray:
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
    return {"auc": auc_or_none(y, score), "ap": _ap(y, score), "n": int(ok.sum()), "n_dropped": int((~ok).sum())}


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
    need_columns(scored, ("category", "y", "score"), "scored")
    d = _scored_only(scored)
    cat = d["category"].astype(str).to_numpy()
    y = d["y"].to_numpy()
    s = d["score"].to_numpy(dtype=np.float64)
    neg = cat == NORMAL
    out: dict[str, float | None] = {}
    for c in sorted(set(scored["category"].astype(str)) - {NORMAL}):
        pos = (cat == c) & (y == 1)
        sel = pos | neg
        out[c] = auc_or_none(pos[sel].astype(np.int8), s[sel]) if pos.any() and neg.any() else None
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
    need_columns(scored, ("video", "score"), "scored")
    d = _scored_only(scored)
    g = pd.DataFrame(
        {
            "video": d["video"].astype(str).to_numpy(),
            "y": category_label(d),
            "score": d["score"].to_numpy(dtype=np.float64),
        }
    )
    if "category" in d.columns:
        g["category"] = d["category"].astype(str).to_numpy()
    agg = {
        "y": ("y", "max"),
        "n_clips": ("score", "size"),
        "score_max": ("score", "max"),
        "score_mean": ("score", "mean"),
    }
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
    return auc_or_none(v["y"].to_numpy(), v[f"score_{pool}"].to_numpy())


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
    ax = frame_axis(scored)
    return {str(v): ax.score[a:b] for v, a, b in zip(ax.videos, ax.offsets[:-1], ax.offsets[1:])}


def frame_level_auc(
    scored: pd.DataFrame, intervals: Mapping[str, Any], *, anomalous_only: bool = False, return_details: bool = False
) -> float | None | tuple[float | None, dict[str, Any]]:
    """Frame-level ROC AUC over the videos of ``scored``, all frames concatenated.

    Parameters
    ----------
    scored : pandas.DataFrame
        The test rows with a ``score`` column (see :func:`frame_scores`). Every video in it
        must appear in ``intervals``.
    intervals : mapping
        Video file name -> half-open anomalous intervals ``[(start, end_exclusive), ...]``
        (empty for normal videos), or the :class:`ucf_nb.index.annotations.VideoAnnotation` values of
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
    ax, labels, anomalous = labelled_frame_axis(scored, intervals)
    video_of_frame = np.repeat(np.arange(len(ax.videos)), np.diff(ax.offsets))
    sel = np.isfinite(ax.score)
    if anomalous_only:
        sel &= anomalous[video_of_frame]
    scored_videos = np.zeros(len(ax.videos), bool)
    scored_videos[np.unique(video_of_frame[np.isfinite(ax.score)])] = True
    in_scope = anomalous if anomalous_only else np.ones(len(ax.videos), bool)
    auc = auc_or_none(labels[sel], ax.score[sel])
    if not return_details:
        return auc
    details = {
        "n_videos": int((in_scope & scored_videos).sum()),
        "n_frames": int(sel.sum()),
        "n_frames_anomalous": int(labels[sel].sum()),
        "n_frames_uncovered": int((sel & ~ax.covered).sum()),
        "n_videos_unscored": int((in_scope & ~scored_videos).sum()),
    }
    return auc, details


def evaluate_probe(
    scored: Mapping[str, pd.DataFrame], intervals: Mapping[str, Any] | None = None, *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
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
        and their seed (see :func:`ucf_nb.auc_bootstrap_ci`).

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
    put_frame_metrics(scored.get("test"), intervals, out, why, n_boot=n_boot, seed=seed)
    out["counts"] = counts
    out["missing_reasons"] = why
    return out


def _split_metrics(
    df: pd.DataFrame | None, split: str, out: dict[str, Any], why: dict[str, str], counts: dict[str, Any]
) -> None:
    """Clip, video and per-category metrics of one scored split into ``out``; reasons for the
    missing ones into ``why``; its counts into ``counts``."""
    keys = [f"clip_auc_{split}", f"clip_ap_{split}", f"video_auc_{split}", f"video_auc_{split}_mean"]
    if df is None:
        for k in keys:
            out[k] = None
            why[k] = f"the {split} split has no embeddings (extract it with notebooks/02_extract.ipynb)"
        out[f"per_category_auc_{split}"] = {}
        return
    need_columns(df, ("y", "video", "category", "score"), f"scored[{split!r}]")
    m = clip_metrics(df["y"].to_numpy(), df["score"].to_numpy())
    out[f"clip_auc_{split}"], out[f"clip_ap_{split}"] = m["auc"], m["ap"]
    out[f"video_auc_{split}"] = video_auc(df, "max")
    out[f"video_auc_{split}_mean"] = video_auc(df, "mean")
    out[f"per_category_auc_{split}"] = per_category_auc(df)
    ok = np.isfinite(df["score"].to_numpy(dtype=np.float64))
    counts[split] = {
        "n_clips": int(len(df)),
        "n_scored": int(ok.sum()),
        "n_failed": int((~ok).sum()),
        "n_videos": int(df["video"].nunique()),
    }
    ys = np.unique(df["y"].to_numpy()[ok])
    for k in keys[:2]:
        if out[k] is None:
            why[k] = (
                f"the scored {split} clips hold only y={ys.tolist()}: an AUC needs both classes"
                if m["n"]
                else f"no {split} clip has an embedding (all {len(df)} failed)"
            )
    for k in keys[2:]:
        if out[k] is None:
            why[k] = f"the {split} videos with a scored clip are all of one class (normal or anomalous)"
