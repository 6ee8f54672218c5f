"""Heads on clip embeddings: fit the linear probe, run a head (linear or MIL) over a finished extraction.

Two layers (the metrics themselves are pure functions in :mod:`ucf_nb.metrics`, the MIL
head is :mod:`ucf_nb.mil`):

- :func:`fit_probe`: a standardised, class-balanced logistic regression whose ``C`` is
  chosen on val, returned as a :class:`LinearProbe` value (plain arrays, no pickle);
- :func:`run_probe`: reads a run's embeddings with :func:`ucf_nb.load_embeddings`, fits,
  scores val and test, and writes ``out_dir/probe/metrics.json`` and
  ``out_dir/probe/scores_{split}.csv``.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .metrics import FRAME_KEYS, SCORED_SPLITS, _auc, _category_label, evaluate_probe

__all__ = [
    "DEFAULT_CS",
    "LinearProbe",
    "ProbeResult",
    "fit_probe",
    "run_probe",
    "METRIC_KEYS",
    "HEADS",
    "metrics_frame",
    "compare_heads",
]

DEFAULT_CS: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
"""The inverse regularisation strengths tried on val (on standardised features)."""

GRID_N_TRAIN = 20_000
"""The grid of ``C`` is fitted on a seeded subsample of this many training clips."""

FAST_N_TRAIN = 20_000
"""``fast=True`` trains on the first this many (finite) training clips, as the prototype did."""

_CHUNK = 8192






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


def fit_probe(X_train: np.ndarray, y_train: np.ndarray, *, X_val: np.ndarray | None = None,
              y_val: np.ndarray | None = None, Cs: Sequence[float] = DEFAULT_CS,
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
    idx, n_failed = _training_rows(X_train, fast=fast, max_train=max_train, seed=seed)
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
    Xv, yv = _val_clips(X_val, y_val, mean, scale)
    if Xv is not None and len(Cs) > 1:
        best, init, val_auc, grid_n = _search_C(X, y, Xv, yv, Cs, grid_n_train=grid_n_train, seed=seed,
                                                max_iter=int(max_iter), tol=float(tol))
    else:
        best, init, val_auc, grid_n = (Cs[0] if len(Cs) == 1 else 1.0), None, None, None
    clf, conv = _fit_lr(X, y, best, balanced=True, max_iter=int(max_iter), tol=float(tol), init=init)
    settings.update(C=best, C_grid=sorted(Cs), val_auc_by_C=val_auc, class_weight="balanced", standardize=True,
                    solver="newton-cholesky", grid_n_train=grid_n, max_iter=int(max_iter), tol=float(tol),
                    n_iter=int(clf.n_iter_[0]), converged=conv,
                    C_note=("no val clips of both classes: C = 1 was used without a search"
                            if val_auc is None and len(Cs) > 1 else None))
    return LinearProbe(mean=mean, scale=scale, coef=clf.coef_[0].astype(np.float64),
                       intercept=float(clf.intercept_[0]), settings=settings)


def _training_rows(X_train: np.ndarray, *, fast: bool, max_train: int | None, seed: int) -> tuple[np.ndarray, int]:
    """(positions of the finite training rows used, ascending; number of non-finite rows)."""
    ok = _finite_rows(X_train)
    n_failed = int((~ok).sum())
    idx = np.flatnonzero(ok)
    if fast:
        n = FAST_N_TRAIN if max_train is None else int(max_train)
        idx = idx[:n]
    elif max_train is not None and len(idx) > int(max_train):
        rng = np.random.default_rng([seed, 1])
        idx = np.sort(rng.choice(idx, int(max_train), replace=False))
    return idx, n_failed


def _val_clips(X_val: np.ndarray | None, y_val: np.ndarray | None, mean: np.ndarray,
               scale: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The finite val clips, standardised, when they hold both classes; else (None, None)."""
    if X_val is None or y_val is None:
        return None, None
    X_val = _check_2d(X_val, "X_val", len(mean))
    yv_all = _check_labels(y_val, len(X_val), "y_val")
    okv = np.flatnonzero(_finite_rows(X_val))
    if np.unique(yv_all[okv]).size != 2:
        return None, None
    Xv = _gather_f32(X_val, okv)
    _standardize_inplace(Xv, mean, scale)
    return Xv, yv_all[okv]


def _search_C(X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray, Cs: Sequence[float], *,
              grid_n_train: int, seed: int, max_iter: int, tol: float
              ) -> tuple[float, tuple[np.ndarray, float], dict[str, float], int]:
    """Fit each ``C`` (ascending, warm-started) on a seeded subsample of ``grid_n_train`` training
    clips and keep the best val AUC (ties: the smaller C). Returns (best C, its solution,
    val AUC by C, subsample size)."""
    if len(X) > grid_n_train:
        rng = np.random.default_rng([seed, 2])
        sub = np.sort(rng.choice(len(X), grid_n_train, replace=False))
        Xg, yg = X[sub], y[sub]
    else:
        Xg, yg = X, y
    val_auc, sols = {}, {}
    prev = None
    for C in sorted(Cs):
        clf, _ = _fit_lr(Xg, yg, C, balanced=True, max_iter=max_iter, tol=tol, init=prev)
        prev = (clf.coef_[0].copy(), float(clf.intercept_[0]))
        val_auc[repr(C)] = float(_auc(yv, Xv @ clf.coef_[0] + clf.intercept_[0]))
        sols[C] = prev
    best = max(sorted(Cs), key=lambda c: (val_auc[repr(c)], -c))  # ties: the smaller C
    return best, sols[best], val_auc, int(len(yg))


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
    from .manifest import read_manifest

    return {s for s, e in (read_manifest(source).get("splits") or {}).items() if e and e.get("complete")}


def _write_scores(path: Path, df: pd.DataFrame) -> None:
    from .files import atomic_write_csv

    out = pd.DataFrame({"row": df.index.to_numpy(dtype=np.int64), "video": df["video"].astype(str).to_numpy(),
                        "clip_idx": df["clip_idx"].to_numpy(), "y": df["y"].to_numpy(),
                        "score": df["score"].to_numpy()})
    atomic_write_csv(path, out)


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


def run_probe(out_dir: str | os.PathLike = "processed", *, manifest: str | os.PathLike | None = None,
              annotation_path: str | os.PathLike | None = None, max_train: int | None = None,
              seed: int = 0, fast: bool = False, Cs: Sequence[float] = DEFAULT_CS, head: str = "linear",
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
    from .manifest import read_manifest
    from .paths import display_path, resolve_path
    from .store import load_embeddings

    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got head={head!r}")
    if head == "mil" and (fast or max_train is not None):
        raise ValueError("fast and max_train apply to the linear head only: leave them at their defaults "
                         "with head='mil'")
    t0 = time.perf_counter()
    out = resolve_path(out_dir)
    source = resolve_path(manifest) if manifest is not None else out
    intervals = _read_intervals(annotation_path)

    finished = _finished_splits(source)
    if "train" not in finished:
        raise FileNotFoundError(f"the train split of {display_path(source)} is not finished: run "
                                "notebooks/02_extract.ipynb with split='train' first")
    X_tr, y_tr, rows_tr = load_embeddings(source, "train")
    loaded = {s: load_embeddings(source, s) if s in finished else None for s in SCORED_SPLITS}
    t_load = time.perf_counter()
    if head == "linear":
        X_va, y_va = (loaded["val"][0], loaded["val"][1]) if loaded["val"] else (None, None)
        fitted = fit_probe(X_tr, y_tr, X_val=X_va, y_val=y_va, Cs=Cs, max_train=max_train, seed=seed, fast=fast)
        settings = dict(fitted.settings)
        n_tr_failed = settings["n_train_failed"]
        scorers = {s: (lambda X, rows, p=fitted: p.predict_proba(X)) for s in SCORED_SPLITS}
    else:
        fitted = _fit_mil_head((X_tr, y_tr, rows_tr), loaded["val"], seed=seed, mil_params=mil_params)
        settings = dict(fitted.settings)
        settings["val_scored_by"] = ("the head fitted on train only (chosen on val)" if fitted.selected is not None
                                     else "the head itself")
        n_tr_failed = int((~_finite_rows(X_tr)).sum())
        val_head = fitted.selected if fitted.selected is not None else fitted
        scorers = {"val": lambda X, rows, h=val_head: _mil_scores(h, X, rows),
                   "test": lambda X, rows, h=fitted: _mil_scores(h, X, rows)}
    t_fit = time.perf_counter()
    del X_tr

    scores = _score_splits(scorers, loaded)
    metrics = evaluate_probe(scores, intervals, n_boot=n_boot, seed=seed)
    t_eval = time.perf_counter()

    result = _metrics_record(metrics, head, settings, read_manifest(source), seed=seed, y_tr=y_tr,
                             n_tr_failed=n_tr_failed, rows_tr=rows_tr, annotation_path=annotation_path,
                             source=source)
    result["timing"] = {"load_s": round(t_load - t0, 3), "fit_s": round(t_fit - t_load, 3),
                        "score_and_metrics_s": round(t_eval - t_fit, 3)}
    paths = _write_probe(out / HEAD_DIRS[head], result, scores)
    return ProbeResult(metrics=result, scores=scores, probe=fitted, intervals=intervals, paths=paths)


def _read_intervals(annotation_path: str | os.PathLike | None) -> dict | None:
    """The temporal annotation as video -> [(start, end_exclusive), ...]; None without one."""
    if annotation_path is None:
        return None
    from .annotations import read_temporal_annotation

    ann = read_temporal_annotation(annotation_path)
    return {name: [tuple(iv) for iv in a.intervals] for name, a in ann.items()}


def _score_splits(scorers: Mapping[str, Any], loaded: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The index rows of each loaded split with the head's ``score`` column added
    (``scorers[split](X, rows)`` -> one score per row)."""
    scores: dict[str, pd.DataFrame] = {}
    for split, got in loaded.items():
        if got is None:
            continue
        X, y, rows = got
        keep = [c for c in ("split", "y", "category", "video", "clip_idx", "start_frame", "end_frame",
                            "n_frames", "anomaly_frac") if c in rows.columns]
        df = rows[keep].copy()
        df["y"] = np.asarray(y).astype(np.int64)
        df["score"] = scorers[split](X, rows)
        scores[split] = df
    return scores


def _metrics_record(metrics: dict[str, Any], head: str, settings: Mapping[str, Any], man: dict[str, Any], *,
                    seed: int, y_tr: np.ndarray, n_tr_failed: int, rows_tr: pd.DataFrame,
                    annotation_path: str | os.PathLike | None, source: Path) -> dict[str, Any]:
    """The content of ``metrics.json`` (without ``timing``): the same keys for every head."""
    from .manifest import package_versions
    from .paths import display_path, resolve_path

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
    result["versions"] = package_versions(("ucf-nb", "scikit-learn", "numpy", "torch"))
    return result


def _write_probe(probe_dir: Path, result: dict[str, Any], scores: dict[str, pd.DataFrame]) -> dict[str, Path]:
    """Write ``scores_{split}.csv`` and ``metrics.json`` into ``probe_dir``; returns their paths."""
    from .files import _atomic_write_json

    probe_dir.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": probe_dir / "metrics.json"}
    for split, df in scores.items():
        paths[f"scores_{split}"] = probe_dir / f"scores_{split}.csv"
        _write_scores(paths[f"scores_{split}"], df)
    _atomic_write_json(paths["metrics"], result, allow_nan=False)
    return paths
