"""The field's frame-level protocol: frame AUC as Sultani et al., RTFM and UR-DMU compute it,
bootstrap confidence intervals over test videos and the false-alarm rate (pure functions).

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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..checks import check_float, check_int
from ._frames import FRAME_KEYS, annotation_coverage, examples, labelled_frame_axis

__all__ = [
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
    block = check_int("block", block, 1, who="field_frame_count: ")
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


def frame_table(
    scored: pd.DataFrame, intervals: Mapping[str, Any], *, convention: str = "field", block: int = FIELD_BLOCK
) -> FrameTable:
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
    ax, labels, anomalous = labelled_frame_axis(scored, intervals)
    n_all = np.diff(ax.offsets)
    video = np.repeat(np.arange(len(ax.videos), dtype=np.int64), n_all)
    frame = np.arange(int(ax.offsets[-1]), dtype=np.int64) - ax.offsets[video]
    n_eval = field_frame_count(n_all, block) if convention == "field" else n_all
    keep = frame < np.asarray(n_eval)[video]
    label = labels[keep]
    return FrameTable(
        videos=ax.videos,
        video=video[keep],
        frame=frame[keep],
        label=label,
        score=ax.score[keep],
        covered=ax.covered[keep],
        anomalous=anomalous,
        n_frames=np.asarray(n_eval, dtype=np.int64),
    )


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
        raise ValueError(
            f"labels, scores and weights have {len(labels)}, {len(scores)} and {len(w)} "
            "entries: pass one of each per sample"
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores hold NaN or infinite values: drop the unscored samples first")
    g, G = _tie_groups(scores)
    pos = np.bincount(g, weights=w * (labels == 1), minlength=G)
    neg = np.bincount(g, weights=w * (labels != 1), minlength=G)
    return _grouped_auc(pos, neg)


def _video_pair_counts(
    labels: np.ndarray, scores: np.ndarray, vid: np.ndarray, V: int
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
    gp, gp_idx = np.unique(g[is_pos], return_inverse=True)  # score groups holding a positive
    Pos = np.zeros((V, len(gp)))
    np.add.at(Pos, (vid[is_pos], gp_idx.reshape(-1)), 1.0)
    # for each video, negatives strictly below each positive group, and tied with it
    NB = np.zeros((V, len(gp)))
    order = np.lexsort((g[~is_pos], vid[~is_pos]))
    nv, ng = vid[~is_pos][order], g[~is_pos][order]
    bounds = np.searchsorted(nv, np.arange(V + 1))
    for v in range(V):
        gv = ng[bounds[v] : bounds[v + 1]]
        if len(gv) == 0:
            continue
        below = np.searchsorted(gv, gp, side="left")
        upto = np.searchsorted(gv, gp, side="right")
        NB[v] = below + 0.5 * (upto - below)
    return Pos @ NB.T, pos_v, neg_v


def auc_bootstrap_ci(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    level: float = 0.95,
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
        raise ValueError(
            f"labels, scores and groups have {len(labels)}, {len(scores)} and {len(groups)} "
            "entries: pass one of each per frame"
        )
    n_boot = check_int("n_boot", n_boot, 1, who="auc_bootstrap_ci: ")
    level = check_float(
        "level", level, 0, maximum=1, lo_open=True, hi_open=True, who="auc_bootstrap_ci: ", hint=", e.g. 0.95"
    )
    seed = check_int("seed", seed, 0, who="auc_bootstrap_ci: ")
    if not np.isfinite(scores).all():
        raise ValueError("scores hold NaN or infinite values: drop the unscored frames first")
    out: dict[str, Any] = {
        "ci": None,
        "n_boot": int(n_boot),
        "n_skipped": int(n_boot),
        "seed": int(seed),
        "level": float(level),
    }
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
    boot = np.concatenate(aucs)
    if len(boot):
        tail = (1 - float(level)) / 2
        lo, hi = np.quantile(boot, [tail, 1 - tail])
        out["ci"] = [float(lo), float(hi)]
    out["n_skipped"] = int(n_boot) - len(boot)
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


def frame_metrics(
    scored: pd.DataFrame,
    intervals: Mapping[str, Any],
    *,
    convention: str = "field",
    anomalous_only: bool = False,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    threshold: float = 0.5,
    block: int = FIELD_BLOCK,
) -> dict[str, Any]:
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
    details = {
        "convention": convention,
        "n_videos": int((in_scope & scored_videos).sum()),
        "n_frames": int(sel.sum()),
        "n_frames_anomalous": int(t.label[sel].sum()),
        "n_frames_uncovered": int((sel & ~t.covered).sum()),
        "n_videos_unscored": int((in_scope & ~scored_videos).sum()),
        "n_frames_normal_videos": int(normal_frames.sum()),
        "threshold": float(threshold),
        "n_boot": boot["n_boot"],
        "n_boot_skipped": boot["n_skipped"],
        "seed": int(seed),
    }
    return {"auc": auc, "ci95": boot["ci"] if auc is not None else None, "far": far, "details": details}


def put_frame_metrics(
    test: pd.DataFrame | None,
    intervals: Mapping[str, Any] | None,
    out: dict[str, Any],
    why: dict[str, str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> None:
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
                parts.append(
                    f"{len(cov['not_in_test'])} of the {cov['n_annotated']} annotated videos are not "
                    f"in the test split (e.g. {examples(cov['not_in_test'])})"
                )
            if cov["not_annotated"]:
                parts.append(
                    f"{len(cov['not_annotated'])} of the {cov['n_test_videos']} test videos have no "
                    f"annotation (e.g. {examples(cov['not_annotated'])})"
                )
            reason = (
                "the test split does not cover the annotated videos: "
                + "; ".join(parts)
                + " (build the index and extract the test split from the same annotation)"
            )
            for k in FRAME_KEYS:
                why[k] = reason
        else:
            kw: dict[str, Any] = dict(n_boot=n_boot, seed=seed)
            fm = {
                "all": frame_metrics(test, intervals, convention="all", **kw),
                "field": frame_metrics(test, intervals, convention="field", **kw),
                "anomalous": frame_metrics(test, intervals, convention="all", anomalous_only=True, **kw),
            }
            for name, key in (
                ("all", "frame_auc_test"),
                ("field", "frame_auc_test_field"),
                ("anomalous", "frame_auc_test_anomalous"),
            ):
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
                    if fm["anomalous"]["details"]["n_frames"] == 0
                    else "the anomalous test videos' frames are all of one class"
                )
            for key in ("frame_auc_test_ci95", "frame_auc_test_field_ci95", "frame_auc_test_anomalous_ci95"):
                if out[key] is None and key not in why:
                    why[key] = "no bootstrap resample of the test videos held both classes"
