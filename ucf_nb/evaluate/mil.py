"""The weakly supervised MIL ranking head of Sultani et al. (CVPR 2018) on clip embeddings.

Each video is a *bag* of clips with only a video label (anomalous or normal). Its clip
embeddings are averaged into 32 temporal segments (:func:`segment_bag`); an MLP
(D-512-32-1: ReLU after the first layer, 60% dropout after the first two, a sigmoid at the end)
scores each segment, and is trained so that the highest-scoring segment of an anomalous bag
outranks the highest-scoring segment of a normal bag by a margin of 1
(:func:`mil_ranking_loss`), with temporal smoothness (:func:`smoothness_loss`) and sparsity
(:func:`sparsity_loss`) terms on the anomalous bags, 8e-5 each.

Features: each clip embedding is standardised with the training clips' mean and standard
deviation and scaled to unit L2 norm; a segment is the mean of its clips, scaled to unit norm
again (Sultani et al. L2-normalise their C3D segment features). A fitted :class:`MILHead`
scores *clips* (``score(bag)``), each one as a one-clip segment, so that its scores go through
the same frame-level evaluation as the linear probe's.

Training (:func:`fit_mil`): batches of 30 anomalous and 30 normal bags, Adagrad, every
``eval_every`` iterations the video-level ROC AUC on val (each val video scored by its best
segment) with the val objective as tie-break; training stops after ``patience`` evaluations
without improvement and the best iteration count is the chosen setting. The reported head is
then refit on train + val with that count (the published protocol trains on the whole
official training list). Seeded: the same inputs, seed and number of torch threads give the
same head on CPU.

(Over 500 lines on purpose: segments, losses, head and training are one published model,
read and checked against the paper together.)
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ..checks import check_bool, check_float, check_int, settings_from_call
from ..progress import finish_early
from ..progress import progress_bar as tqdm  # widget in Jupyter, text in the book

__all__ = [
    "N_SEGMENTS",
    "MILHead",
    "MILParams",
    "segment_bag",
    "mil_ranking_loss",
    "smoothness_loss",
    "sparsity_loss",
    "mil_objective",
    "fit_mil",
]

N_SEGMENTS = 32
"""Temporal segments per video (Sultani et al.)."""

_CHUNK = 8192


# ============================================================================ segments


def segment_bag(bag: np.ndarray, n_segments: int = N_SEGMENTS) -> np.ndarray:
    """Average a video's clip features into ``n_segments`` temporal segments.

    Segment ``i`` is the mean of clips ``e[i] <= k < e[i+1]`` with
    ``e = round(linspace(0, n_clips, n_segments + 1))``; when that range is empty (fewer clips
    than segments) the segment is clip ``min(e[i], n_clips - 1)`` itself.

    Parameters
    ----------
    bag : array-like, shape (n_clips, D)
        Clip features in temporal order, finite, ``n_clips >= 1``.
    n_segments : int

    Returns
    -------
    numpy.ndarray of float32, shape (n_segments, D)
    """
    bag = np.asarray(bag)
    if bag.ndim != 2 or len(bag) == 0:
        raise ValueError(f"a bag must be a non-empty 2-D array (n_clips, D), got shape {bag.shape}")
    n_segments = check_int("n_segments", n_segments, 1, who="segment_bag: ")
    n = len(bag)
    edges = np.round(np.linspace(0, n, int(n_segments) + 1)).astype(np.int64)
    a, b = edges[:-1], edges[1:]
    csum = np.concatenate([np.zeros((1, bag.shape[1])), np.cumsum(bag, axis=0, dtype=np.float64)])
    empty = b <= a
    width = np.maximum(b - a, 1)[:, None]
    seg = (csum[b] - csum[a]) / width
    if empty.any():
        seg[empty] = bag[np.minimum(a[empty], n - 1)]
    return seg.astype(np.float32)


# ============================================================================ losses


def _t(x: Any):
    import torch

    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))


def mil_ranking_loss(scores_anomalous: Any, scores_normal: Any, *, margin: float = 1.0):
    """MIL ranking hinge: ``mean over pairs (a, n) of max(0, margin - max(s_a) + max(s_n))``.

    Parameters
    ----------
    scores_anomalous : tensor or array, shape (A, S)
        Segment scores of A anomalous bags.
    scores_normal : tensor or array, shape (N, S')
        Segment scores of N normal bags.
    margin : float

    Returns
    -------
    torch.Tensor
        A scalar: the mean over all A x N pairs.
    """
    import torch

    sa, sn = _t(scores_anomalous), _t(scores_normal)
    if sa.ndim != 2 or sn.ndim != 2 or len(sa) == 0 or len(sn) == 0:
        raise ValueError(
            f"scores must be 2-D (bags, segments) with at least one bag each, got shapes "
            f"{tuple(sa.shape)} and {tuple(sn.shape)}"
        )
    ma, mn = sa.max(dim=1).values, sn.max(dim=1).values
    return torch.relu(margin - ma[:, None] + mn[None, :]).mean()


def smoothness_loss(scores: Any):
    """Temporal smoothness: ``mean over bags of sum_i (s_i - s_{i+1})^2``.

    Parameters
    ----------
    scores : tensor or array, shape (B, S)

    Returns
    -------
    torch.Tensor (scalar)
    """
    s = _t(scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D (bags, segments), got shape {tuple(s.shape)}")
    return ((s[:, 1:] - s[:, :-1]) ** 2).sum(dim=1).mean()


def sparsity_loss(scores: Any):
    """Sparsity: ``mean over bags of sum_i s_i``.

    Parameters
    ----------
    scores : tensor or array, shape (B, S)

    Returns
    -------
    torch.Tensor (scalar)
    """
    s = _t(scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D (bags, segments), got shape {tuple(s.shape)}")
    return s.sum(dim=1).mean()


def mil_objective(
    scores_anomalous: Any,
    scores_normal: Any,
    *,
    margin: float = 1.0,
    lambda_smooth: float = 8e-5,
    lambda_sparse: float = 8e-5,
):
    """Sultani et al.'s objective: ranking loss + smoothness and sparsity of the anomalous bags.

    ``mil_ranking_loss(sa, sn) + lambda_smooth * smoothness_loss(sa) + lambda_sparse *
    sparsity_loss(sa)`` (the weight decay is the optimiser's).
    """
    sa = _t(scores_anomalous)
    return (
        mil_ranking_loss(sa, scores_normal, margin=margin)
        + lambda_smooth * smoothness_loss(sa)
        + lambda_sparse * sparsity_loss(sa)
    )


# ============================================================================ the head


def _unit_rows(Z: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.maximum(norm, 1e-12)


@dataclass(frozen=True)
class MILHead:
    """A fitted MIL head: plain arrays, no pickle.

    ``score_clips(bag)`` = ``sigmoid(W3 (W2 relu(W1 z + b1) + b2) + b3)`` for each clip, with
    ``z = unit((x - mean) / scale)``.

    Attributes
    ----------
    mean, scale : numpy.ndarray of float64, shape (D,)
        Standardisation of the clip features (training clips).
    weights : dict
        ``W1`` (512, D), ``b1`` (512,), ``W2`` (32, 512), ``b2`` (32,), ``W3`` (1, 32), ``b3``
        (1,), float32.
    settings : dict
        How it was fitted (JSON-ready), see :func:`fit_mil`.
    selected : MILHead or None
        The head fitted on train only at the chosen iteration count (the one scored on val);
        None when this head is that one (``refit=False``).
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: dict
    settings: dict = field(default_factory=dict)
    selected: MILHead | None = None

    def features(self, bag: np.ndarray) -> np.ndarray:
        """Standardised, unit-norm clip features, float32 (n, D); rows with NaN stay NaN."""
        X = np.asarray(bag, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.mean):
            raise ValueError(
                f"a bag must be a 2-D array (n_clips, {len(self.mean)}) for this head, got "
                f"shape {X.shape}: score embeddings of the encoder it was fitted on"
            )
        Z = (X - self.mean.astype(np.float32)) / self.scale.astype(np.float32)
        return _unit_rows(Z)

    def score_features(self, Z: np.ndarray) -> np.ndarray:
        """The MLP on prepared features ``Z`` (n, D) (see :meth:`features`): float64 (n,)."""
        w = self.weights
        h = np.maximum(Z @ w["W1"].T + w["b1"], 0)
        h = h @ w["W2"].T + w["b2"]
        z = (h @ w["W3"].T + w["b3"])[:, 0].astype(np.float64)
        return 1.0 / (1.0 + np.exp(-z))

    def score(self, bag: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
        """Deprecated name of :meth:`score_clips` (scikit-learn's ``score`` is a goodness of
        fit, not per-sample scores); removed in ucf-nb 0.3."""
        warnings.warn(
            "MILHead.score(bag) is deprecated: use MILHead.score_clips(bag) (the same per-clip "
            "scores); MILHead.score is removed in ucf-nb 0.3",
            FutureWarning,
            stacklevel=2,
        )
        return self.score_clips(bag, chunk)

    def score_clips(self, bag: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
        """Anomaly score in (0, 1) of each clip of a video.

        Parameters
        ----------
        bag : array-like, shape (n_clips, D)
            Raw clip embeddings (a float16 memmap is fine).

        Returns
        -------
        numpy.ndarray of float64, shape (n_clips,)
            NaN for clips whose embedding is not finite (failed clips).
        """
        n = len(bag)
        out = np.empty(n, np.float64)
        for a in range(0, n, chunk):
            Z = self.features(np.asarray(bag[a : a + chunk]))
            ok = np.isfinite(Z).all(axis=1)
            s = np.full(len(Z), np.nan)
            if ok.any():
                s[ok] = self.score_features(Z[ok])
            out[a : a + chunk] = s
        return out

    def score_segments(self, bag: np.ndarray) -> np.ndarray:
        """Scores of the video's ``n_segments`` segments (as in training), float64 (n_segments,)."""
        X = np.asarray(bag, dtype=np.float32)
        X = X[np.isfinite(X).all(axis=1)]
        seg = segment_bag(self.features(X), self.settings.get("n_segments", N_SEGMENTS))
        return self.score_features(_unit_rows(seg))


# ============================================================================ fitting

DEFAULTS: dict[str, Any] = dict(
    hidden=(512, 32),
    dropout=0.6,
    lr=0.01,
    weight_decay=1e-3,
    batch_size=30,
    max_iter=2000,
    eval_every=100,
    patience=5,
    margin=1.0,
    lambda_smooth=8e-5,
    lambda_sparse=8e-5,
    val_fraction=0.2,
)

# the training settings metrics.json records after "n_segments", in this order
_TRAINING = (
    "hidden",
    "dropout",
    "lr",
    "weight_decay",
    "batch_size",
    "max_iter",
    "eval_every",
    "patience",
    "margin",
    "lambda_smooth",
    "lambda_sparse",
)


@dataclass(frozen=True)
class MILParams:
    """The settings of :func:`fit_mil` as one value (see there for what each one does).

    Checked when made: a wrong type raises TypeError (``max_iter=2.9``, ``max_iter=True``),
    a wrong value ValueError (``max_iter=0``, ``lr=-1.0``), each naming the parameter and the
    value. ``fit_mil(bags, labels, params=MILParams(max_iter=400))`` or
    ``run_probe(..., head="mil", mil_params=MILParams(...))``; :meth:`to_dict` gives the
    JSON-ready values.
    """

    n_segments: int = N_SEGMENTS
    hidden: tuple[int, int] = DEFAULTS["hidden"]
    dropout: float = DEFAULTS["dropout"]
    lr: float = DEFAULTS["lr"]
    weight_decay: float = DEFAULTS["weight_decay"]
    batch_size: int = DEFAULTS["batch_size"]
    max_iter: int = DEFAULTS["max_iter"]
    eval_every: int = DEFAULTS["eval_every"]
    patience: int = DEFAULTS["patience"]
    margin: float = DEFAULTS["margin"]
    lambda_smooth: float = DEFAULTS["lambda_smooth"]
    lambda_sparse: float = DEFAULTS["lambda_sparse"]
    val_fraction: float = DEFAULTS["val_fraction"]
    refit: bool = True
    n_threads: int | None = 1

    def __post_init__(self) -> None:
        who = "fit_mil: "
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        for name in ("n_segments", "max_iter", "eval_every", "patience", "batch_size"):
            put(name, check_int(name, getattr(self, name), 1, who=who))
        put("n_threads", check_int("n_threads", self.n_threads, 1, allow_none=True, who=who))
        put("dropout", check_float("dropout", self.dropout, 0, maximum=1, hi_open=True, who=who))
        put("lr", check_float("lr", self.lr, 0, lo_open=True, who=who))
        put("margin", check_float("margin", self.margin, 0, lo_open=True, who=who))
        for name in ("weight_decay", "lambda_smooth", "lambda_sparse"):
            put(name, check_float(name, getattr(self, name), 0, who=who))
        put(
            "val_fraction",
            check_float("val_fraction", self.val_fraction, 0, maximum=1, lo_open=True, hi_open=True, who=who),
        )
        put("refit", check_bool("refit", self.refit, who=who))
        hidden = self.hidden
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__len__"):
            raise TypeError(f"{who}hidden must give two layer widths, e.g. (512, 32), got hidden={hidden!r}")
        if len(hidden) != 2:
            raise ValueError(f"{who}hidden must give two layer widths, e.g. (512, 32), got hidden={hidden!r}")
        put("hidden", tuple(check_int(f"hidden[{i}]", h, 1, who=who) for i, h in enumerate(hidden)))

    def replace(self, **changes: Any) -> MILParams:
        """A copy with ``changes`` (checked like the original)."""
        return dataclasses.replace(self, **changes)

    def training(self) -> dict[str, Any]:
        """The training settings as ``metrics.json`` records them (``hidden`` as a list)."""
        return {k: (list(v) if k == "hidden" else v) for k in _TRAINING for v in (getattr(self, k),)}

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain JSON values, in field order."""
        return {
            f.name: (list(v) if f.name == "hidden" else v)
            for f in dataclasses.fields(self)
            for v in (getattr(self, f.name),)
        }

    @classmethod
    def from_mapping(cls, values: MILParams | Any | None, *, who: str = "run_probe") -> MILParams:
        """``values`` itself when it is a MILParams; else MILParams(**values) (None: the defaults),
        with a TypeError naming an unknown key."""
        if values is None:
            return cls()
        if isinstance(values, cls):
            return values
        if not hasattr(values, "keys"):
            raise TypeError(
                f"{who}: mil_params must be a MILParams or a mapping of fit_mil settings, got mil_params={values!r}"
            )
        mapping = cast(Mapping[str, Any], values)  # a mapping, checked above
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - names)
        if unknown:
            raise TypeError(
                f"{who}: mil_params has {unknown[0]!r}, not a setting of fit_mil (its settings: "
                f"{', '.join(sorted(names))})"
            )
        return cls(**dict(mapping))


def _check_bags(bags: Sequence[Any], labels: Any, what: str) -> tuple[list, np.ndarray, int]:
    if isinstance(bags, np.ndarray) and bags.ndim == 2:
        raise TypeError(
            f"{what} must be a list of per-video (n_clips, D) arrays, got one 2-D array: split the clips by video first"
        )
    bags = list(bags)
    y = np.asarray(labels).reshape(-1)
    if len(y) != len(bags):
        raise ValueError(f"{what} has {len(bags)} bags but {len(y)} labels: pass one label per video")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(
            f"labels of {what} must be 0 (normal) or 1 (anomalous); found {y[bad][0]!r} at "
            f"position {int(np.flatnonzero(bad)[0])}"
        )
    D = None
    for i, b in enumerate(bags):
        shape = getattr(b, "shape", None)
        if shape is None or len(shape) != 2:
            raise ValueError(f"bag {i} of {what} must be a 2-D array (n_clips, D), got shape {shape}")
        if D is None:
            D = int(shape[1])
        elif shape[1] != D:
            raise ValueError(
                f"bag {i} of {what} has {shape[1]} features but bag 0 has {D}: all bags must come from the same encoder"
            )
    return bags, y.astype(np.int8), int(D or 0)


def _finite(bag: Any) -> np.ndarray:
    X = np.asarray(bag, dtype=np.float32)
    return X[np.isfinite(X).all(axis=1)]


def _mean_scale(bags: Sequence[Any], D: int) -> tuple[np.ndarray, np.ndarray, int]:
    n, s, ss = 0, np.zeros(D), np.zeros(D)
    for b in bags:
        X = _finite(b).astype(np.float64)
        n += len(X)
        s += X.sum(axis=0)
        ss += (X**2).sum(axis=0)
    mean = s / max(n, 1)
    std = np.sqrt(np.maximum(ss / max(n, 1) - mean**2, 0))
    std[std < 1e-12] = 1.0
    return mean, std, n


def _segments(head_prep: MILHead, bags: Sequence[Any], n_segments: int) -> tuple[np.ndarray, np.ndarray]:
    """(V, S, D) float32 unit-norm segments of the bags with a finite clip, and which bags those are."""
    segs, keep = [], []
    for i, b in enumerate(bags):
        X = _finite(b)
        if len(X) == 0:
            continue
        segs.append(_unit_rows(segment_bag(head_prep.features(X), n_segments)))
        keep.append(i)
    D = len(head_prep.mean)
    out = np.stack(segs) if segs else np.zeros((0, n_segments, D), np.float32)
    return out.astype(np.float32, copy=False), np.asarray(keep, dtype=np.int64)


def _model(D: int, hidden: Sequence[int], dropout: float):
    import torch.nn as nn

    h1, h2 = (int(h) for h in hidden)
    return nn.Sequential(
        nn.Linear(D, h1),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(h1, h2),
        nn.Dropout(dropout),
        nn.Linear(h2, 1),
        nn.Sigmoid(),
    )


def _weights(model) -> dict:
    lin = [m for m in model if m.__class__.__name__ == "Linear"]
    out = {}
    for k, m in enumerate(lin, 1):
        out[f"W{k}"] = m.weight.detach().cpu().numpy().astype(np.float32).copy()
        out[f"b{k}"] = m.bias.detach().cpu().numpy().astype(np.float32).copy()
    return out


def _video_auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if np.unique(y).size == 2 else None


def _auc_text(auc: float | None) -> str:
    """A val AUC as the bar shows it: rounded to 4 places; "None" where it is not defined."""
    return "None" if auc is None or not np.isfinite(auc) else str(round(auc, 4))


def _train(
    S: np.ndarray, y: np.ndarray, *, seed: int, n_iter: int, p: MILParams, val: tuple | None, progress: bool, desc: str
) -> tuple[dict, int, list]:
    """Train one MLP on segments S (V, n_seg, D); with ``val`` = (Sv, yv) stop early on it.

    Returns (weights of the chosen iteration, chosen iteration, val curve)."""
    import torch

    anom, norm = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rng = np.random.default_rng([seed, 11])
    St = torch.from_numpy(S)
    B = p.batch_size
    curve: list = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _model(S.shape[2], p.hidden, p.dropout)
        opt = torch.optim.Adagrad(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        best: tuple[dict[str, Any] | None, int, tuple[float, float]] = (None, 0, (-np.inf, -np.inf))
        since = 0
        bar = tqdm(total=int(n_iter), desc=desc, disable=not progress, mininterval=5, ascii=True)
        for it in range(1, int(n_iter) + 1):
            bar.update(1)  # updated by hand: an early stop sets the bar's end (finish_early)
            model.train()
            ia = rng.choice(anom, B, replace=len(anom) < B)
            ino = rng.choice(norm, B, replace=len(norm) < B)
            sa = model(St[ia]).squeeze(-1)
            sn = model(St[ino]).squeeze(-1)
            loss = mil_objective(sa, sn, margin=p.margin, lambda_smooth=p.lambda_smooth, lambda_sparse=p.lambda_sparse)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if val is None or it % p.eval_every != 0:
                continue
            model.eval()
            Sv, yv = val
            with torch.no_grad():
                sv = model(torch.from_numpy(Sv)).squeeze(-1)
                vloss = float(
                    mil_objective(
                        sv[yv == 1],
                        sv[yv == 0],
                        margin=p.margin,
                        lambda_smooth=p.lambda_smooth,
                        lambda_sparse=p.lambda_sparse,
                    )
                )
            vauc = _video_auc(yv, sv.max(dim=1).values.numpy())
            curve.append({"iter": it, "train_loss": float(loss.detach()), "val_auc": vauc, "val_loss": vloss})
            key = (vauc if vauc is not None else -np.inf, -vloss)
            bar.set_postfix_str(f"val AUC {_auc_text(vauc)}", refresh=False)
            if key > best[2]:
                best, since = (_weights(model), it, key), 0
            else:
                since += 1
                if since >= p.patience:
                    finish_early(bar, it, f"stopped early: best val AUC {_auc_text(best[2][0])} at iteration {best[1]}")
                    break
        bar.close()
        if val is None or best[0] is None:
            return _weights(model), int(it), curve
    return best[0], best[1], curve


def fit_mil(
    bags: Sequence[np.ndarray],
    labels: Sequence[int] | np.ndarray,
    *,
    n_segments: int = N_SEGMENTS,
    seed: int = 0,
    val_bags: Sequence[np.ndarray] | None = None,
    val_labels: Sequence[int] | np.ndarray | None = None,
    refit: bool = True,
    max_iter: int = DEFAULTS["max_iter"],
    eval_every: int = DEFAULTS["eval_every"],
    patience: int = DEFAULTS["patience"],
    batch_size: int = DEFAULTS["batch_size"],
    lr: float = DEFAULTS["lr"],
    weight_decay: float = DEFAULTS["weight_decay"],
    dropout: float = DEFAULTS["dropout"],
    hidden: Sequence[int] = DEFAULTS["hidden"],
    lambda_smooth: float = DEFAULTS["lambda_smooth"],
    lambda_sparse: float = DEFAULTS["lambda_sparse"],
    margin: float = DEFAULTS["margin"],
    val_fraction: float = DEFAULTS["val_fraction"],
    n_threads: int | None = 1,
    progress: bool = False,
    params: MILParams | None = None,
) -> MILHead:
    """Fit the MIL ranking head on videos with video-level labels only.

    The settings (every keyword but ``seed``, ``val_bags``, ``val_labels`` and ``progress``)
    are checked once, into one :class:`MILParams`; pass ``params=MILParams(...)`` instead of
    the keywords to reuse a set of settings.

    Parameters
    ----------
    bags : list of array-like, each of shape (n_clips, D)
        One array per training video, clips in temporal order (float16 memmap slices fine);
        rows with a NaN (failed clips) are left out, a video without a finite row is left out
        and counted.
    labels : array-like of {0, 1}, shape (V,)
        1 for an anomalous video, 0 for a normal one.
    n_segments : int
        Temporal segments per video (32).
    seed : int
        Seeds the initialisation, dropout, the batches and the held-out split.
    val_bags, val_labels : optional
        Videos to choose the iteration count on. Without them, ``val_fraction`` of the training
        videos (per label, seeded) are held out for it.
    refit : bool
        After choosing, train again on train + val for the chosen number of iterations (the
        returned head; ``head.selected`` is the train-only head). False: return the train-only
        head.
    max_iter, eval_every, patience
        At most ``max_iter`` iterations; val is evaluated every ``eval_every``; training stops
        after ``patience`` evaluations without a better val video AUC (ties: lower val objective).
    batch_size : int
        Anomalous bags per batch, and as many normal bags.
    lr, weight_decay : float
        Adagrad's learning rate and L2 penalty.
    dropout : float
    hidden : (int, int)
        Widths of the two hidden layers (512, 32).
    lambda_smooth, lambda_sparse, margin : float
        See :func:`mil_objective`.
    val_fraction : float
        Share of the training videos held out when no val is given.
    n_threads : int or None
        Torch CPU threads while fitting (restored afterwards); None: torch's current setting.
        One thread is the default: the model is small, extra threads mostly wait on each
        other on a busy machine, and a fixed count keeps the head reproducible. Denormal
        floats are flushed to zero while fitting (see the source), then torch's default is
        restored.
    progress : bool
        A text progress bar.
    params : MILParams, optional
        All the settings above as one value (then leave their keywords at their defaults).

    Returns
    -------
    MILHead
        ``settings`` records every parameter, ``best_iter`` (the chosen iteration count),
        ``val_curve`` (iteration, train loss, val video AUC, val objective), ``val_source``
        ("given" or "held out"), the video counts and the fit time.
    """
    p = settings_from_call(MILParams, locals(), params, who="fit_mil", keyword="params")  # first: reads the keywords
    seed = check_int("seed", seed, 0, who="fit_mil: ")
    progress = check_bool("progress", progress, who="fit_mil: ")
    import torch

    before = torch.get_num_threads()
    if p.n_threads is not None:
        torch.set_num_threads(p.n_threads)
    # Tiny gradients become denormal floats after a few hundred steps, and CPU arithmetic on
    # denormals is 10x slower or worse: flush them to zero while fitting (torch's default,
    # off, is restored afterwards).
    torch.set_flush_denormal(True)
    try:
        return _fit_mil(bags, labels, val_bags, val_labels, p, seed=seed, progress=progress)
    finally:
        torch.set_num_threads(before)
        torch.set_flush_denormal(False)


def _fit_mil(
    bags: Sequence[Any],
    labels: Any,
    val_bags: Sequence[Any] | None,
    val_labels: Any,
    p: MILParams,
    *,
    seed: int,
    progress: bool,
) -> MILHead:
    import torch

    t0 = time.perf_counter()
    bags, y, D = _check_bags(bags, labels, "bags")
    if np.unique(y).size < 2:
        raise ValueError(
            f"the {len(y)} training videos hold only label(s) {np.unique(y).tolist()}: the MIL "
            "head needs anomalous and normal videos"
        )
    n_segments = p.n_segments
    tr_bags, tr_y, val_bags, yv, source = _train_val(
        bags, y, D, val_bags, val_labels, val_fraction=p.val_fraction, seed=seed
    )

    mean, scale, n_clips = _mean_scale(tr_bags, D)
    prep = MILHead(mean=mean, scale=scale, weights={}, settings={"n_segments": n_segments})
    S, kept = _segments(prep, tr_bags, n_segments)
    y_tr = tr_y[kept]
    if np.unique(y_tr).size < 2:
        raise ValueError(
            "after leaving out the videos without a finite clip, the training videos hold a "
            "single label: the MIL head needs anomalous and normal videos"
        )
    Sv, kept_v = _segments(prep, val_bags, n_segments)
    yv_k = np.asarray(yv)[kept_v]
    val = (Sv, yv_k) if len(kept_v) and np.unique(yv_k).size == 2 else None
    n_empty = (len(tr_bags) - len(kept)) + (len(val_bags) - len(kept_v))

    w_sel, best_iter, curve = _train(
        S,
        y_tr,
        seed=seed,
        n_iter=p.max_iter,
        p=p,
        val=val,
        progress=progress,
        desc="MIL head (train, early stopping on val)",
    )
    note = (
        None
        if val is not None
        else ("val holds no videos of both labels: trained for max_iter iterations without early stopping")
    )
    settings: dict[str, Any] = {
        "head": "mil",
        "n_segments": n_segments,
        **p.training(),
        "seed": seed,
        "best_iter": int(best_iter),
        "selection": "video ROC AUC on val (each video scored by its best segment); ties: lower val objective",
        "val_source": source,
        "val_curve": curve,
        "refit": p.refit,
        "n_train_videos": int(len(kept)),
        "n_val_videos": int(len(kept_v)),
        "n_videos_without_finite_clip": int(n_empty),
        "n_train_clips": int(n_clips),
        "standardize": True,
        "l2_normalize": True,
        "torch_threads": int(torch.get_num_threads()),
        "note": note,
    }
    selected = MILHead(
        mean=mean, scale=scale, weights=w_sel, settings={**settings, "refit": False, "fitted_on": "train"}
    )
    if not p.refit:
        selected.settings["fit_s"] = round(time.perf_counter() - t0, 3)
        return selected

    return _refit(
        list(tr_bags) + list(val_bags),
        np.concatenate([tr_y, np.asarray(yv, dtype=np.int8)]),
        D,
        seed=seed,
        best_iter=best_iter,
        p=p,
        progress=progress,
        settings=settings,
        selected=selected,
        t0=t0,
    )


def _train_val(
    bags: list,
    y: np.ndarray,
    D: int,
    val_bags: Sequence[Any] | None,
    val_labels: Any,
    *,
    val_fraction: float,
    seed: int,
) -> tuple[list, np.ndarray, list, np.ndarray, str]:
    """(train bags, train labels, val bags, val labels, "given" | "held out"): the given val
    videos, else a seeded, stratified ``val_fraction`` of the training videos held out."""
    if (val_bags is None) != (val_labels is None):
        raise ValueError("pass val_bags and val_labels together (or neither, to hold out training videos)")
    if val_bags is not None:
        val_bags, yv, Dv = _check_bags(val_bags, val_labels, "val_bags")
        if val_bags and Dv != D:
            raise ValueError(f"val_bags have {Dv} features but bags have {D}: use the same encoder")
        tr_bags, tr_y, source = bags, y, "given"
    else:
        rng = np.random.default_rng([seed, 13])
        hold = np.zeros(len(y), bool)
        for lab in (0, 1):
            idx = np.flatnonzero(y == lab)
            k = min(max(int(round(float(val_fraction) * len(idx))), 1), len(idx) - 1) if len(idx) > 1 else 0
            hold[rng.choice(idx, k, replace=False)] = True
        tr_bags = [b for b, h in zip(bags, hold) if not h]
        tr_y = y[~hold]
        val_bags, yv = [b for b, h in zip(bags, hold) if h], y[hold]
        source = "held out"
    return tr_bags, tr_y, val_bags, yv, source


def _refit(
    all_bags: list,
    all_y: np.ndarray,
    D: int,
    *,
    seed: int,
    best_iter: int,
    p: MILParams,
    progress: bool,
    settings: dict[str, Any],
    selected: MILHead,
    t0: float,
) -> MILHead:
    """The head refit on train + val for the selected number of iterations."""
    n_segments = p.n_segments
    mean2, scale2, n_clips2 = _mean_scale(all_bags, D)
    prep2 = MILHead(mean=mean2, scale=scale2, weights={}, settings={"n_segments": n_segments})
    S2, kept2 = _segments(prep2, all_bags, n_segments)
    w_all, _, _ = _train(
        S2,
        all_y[kept2],
        seed=seed,
        n_iter=best_iter,
        p=p,
        val=None,
        progress=progress,
        desc="MIL head (refit on train + val)",
    )
    settings.update(
        fitted_on="train + val",
        n_refit_videos=int(len(kept2)),
        n_refit_clips=int(n_clips2),
        fit_s=round(time.perf_counter() - t0, 3),
    )
    return MILHead(mean=mean2, scale=scale2, weights=w_all, settings=settings, selected=selected)
