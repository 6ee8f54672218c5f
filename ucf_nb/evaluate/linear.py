"""The linear probe: a standardised, class-balanced logistic regression on clip embeddings
whose ``C`` is chosen on val (:func:`fit_probe`), returned as a :class:`LinearProbe` value
(plain arrays, no pickle). :func:`ucf_nb.run_probe` runs it (or the MIL head,
:mod:`ucf_nb.evaluate.mil`) over a finished extraction.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import check_bool, check_float, check_int
from .metrics import auc_or_none

__all__ = [
    "DEFAULT_CS",
    "LinearProbe",
    "fit_probe",
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
            block = np.asarray(X[a : a + chunk], dtype=np.float64)
            z = (block - self.mean) @ w + self.intercept
            z[~np.isfinite(block).all(axis=1)] = np.nan
            out[a : a + chunk] = z
        return out

    def score_clips(self, X: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
        """Probability that each clip is anomalous, float64 (N,); NaN for non-finite rows."""
        from scipy.special import expit

        return expit(self.decision_function(X, chunk))

    def predict_proba(self, X: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
        """Deprecated name of :meth:`score_clips` (scikit-learn's ``predict_proba`` returns one
        column per class, (N, 2); this returns (N,)); removed in ucf-nb 0.3."""
        warnings.warn(
            "LinearProbe.predict_proba(X) is deprecated: use LinearProbe.score_clips(X) (the same "
            "(N,) anomaly probabilities); LinearProbe.predict_proba is removed in ucf-nb 0.3",
            FutureWarning,
            stacklevel=2,
        )
        return self.score_clips(X, chunk)


def _check_2d(X: Any, name: str, width: int | None = None) -> np.ndarray:
    if not hasattr(X, "shape") or len(X.shape) != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D) of embeddings, got shape {getattr(X, 'shape', None)}")
    if width is not None and X.shape[1] != width:
        raise ValueError(
            f"{name} has {X.shape[1]} columns but the probe was fitted on {width}: score embeddings of the same encoder"
        )
    return X


def finite_rows(X: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
    ok = np.empty(len(X), bool)
    for a in range(0, len(X), chunk):
        ok[a : a + chunk] = np.isfinite(np.asarray(X[a : a + chunk])).all(axis=1)
        _release_pages(X, a, min(a + chunk, len(X)))
    return ok


def _release_pages(X: np.ndarray, lo: int, hi: int) -> None:
    """Drop the pages of rows ``[lo, hi)`` of a read-only memmap from this process's memory.

    A memmap's pages, once read, stay mapped (and counted in the process's resident memory)
    until the map is closed: a pass over a float16 memmap would otherwise leave half the size
    of its float32 copy resident. The file's pages stay in the OS cache; a later read maps
    them again. No-op for anything but a read-only ``numpy.memmap``.
    """
    import mmap

    m = getattr(X, "_mmap", None)
    if m is None or getattr(X, "mode", None) != "r" or not hasattr(m, "madvise") or not X.flags.c_contiguous:
        return
    try:
        base = np.frombuffer(m, dtype=np.uint8).ctypes.data  # where the map starts
    except (TypeError, ValueError):
        return
    row = X.shape[1] * X.itemsize if X.ndim == 2 else X.itemsize
    start, end = X.ctypes.data - base + lo * row, X.ctypes.data - base + hi * row
    page = mmap.PAGESIZE
    a, b = -(-start // page) * page, (end // page) * page  # whole pages inside the rows only
    if b > a:
        with contextlib.suppress(OSError, ValueError):
            m.madvise(mmap.MADV_DONTNEED, a, b - a)


def _gather_f32(X: np.ndarray, rows: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
    """X[rows] as a float32 array, read chunk by chunk (rows ascending); a memmap's pages are
    released as they are read, so that the copy is the only full-size array in memory."""
    out = np.empty((len(rows), X.shape[1]), np.float32)
    for a in range(0, len(rows), chunk):
        r = rows[a : a + chunk]
        if len(r) == 0:
            continue
        lo, hi = int(r[0]), int(r[-1]) + 1
        out[a : a + len(r)] = np.asarray(X[lo:hi])[r - lo]
        _release_pages(X, lo, hi)
    return out


def _mean_scale(X32: np.ndarray, chunk: int = _CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and standard deviation (float64), merged chunk by chunk (Chan et al.)."""
    D = X32.shape[1]
    n, mean, m2 = 0, np.zeros(D), np.zeros(D)
    for a in range(0, len(X32), chunk):
        b = X32[a : a + chunk].astype(np.float64)  # the only float64 chunk: centred and squared in place
        nb = len(b)
        mb = b.mean(axis=0)
        b -= mb
        b *= b
        m2b = b.sum(axis=0)
        delta = mb - mean
        tot = n + nb
        mean = mean + delta * nb / tot
        m2 = m2 + m2b + delta**2 * n * nb / tot
        n = tot
    std = np.sqrt(m2 / max(n, 1))
    std[std < 1e-12] = 1.0
    return mean, std


def _standardize_inplace(X32: np.ndarray, mean: np.ndarray, scale: np.ndarray, chunk: int = _CHUNK) -> None:
    m32, s32 = mean.astype(np.float32), scale.astype(np.float32)
    for a in range(0, len(X32), chunk):
        X32[a : a + chunk] -= m32
        X32[a : a + chunk] /= s32


def _check_labels(y: Any, n: int, name: str) -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise ValueError(f"{name} has {len(y)} labels for {n} embeddings: pass one label per row")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(
            f"{name} must hold 0 (normal) and 1 (anomalous); found {y[bad][0]!r} at position "
            f"{int(np.flatnonzero(bad)[0])}"
        )
    return y.astype(np.int8)


def _fit_lr(
    X: np.ndarray,
    y: np.ndarray,
    C: float,
    *,
    balanced: bool,
    max_iter: int,
    tol: float,
    solver: str = "newton-cholesky",
    init: tuple[np.ndarray, float] | None = None,
):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(
        C=C,
        class_weight="balanced" if balanced else None,
        solver=solver,
        max_iter=max_iter,
        tol=tol,
        warm_start=init is not None,
    )
    if init is not None:
        clf.coef_ = init[0].reshape(1, -1).astype(X.dtype).copy()
        clf.intercept_ = np.array([init[1]], dtype=X.dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(X, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return clf, converged


def _newton_lr(
    X: np.ndarray,
    y: np.ndarray,
    C: float,
    *,
    max_iter: int,
    tol: float,
    init: tuple[np.ndarray, float] | None = None,
    chunk: int = _CHUNK,
) -> tuple[np.ndarray, float, int, bool]:
    """Class-balanced, L2-penalised binary logistic regression by Newton's method, in place.

    The objective of scikit-learn's ``LogisticRegression(class_weight="balanced")`` (same
    weights, same scaling of the penalty, intercept not penalised), minimised with full Newton
    steps and a backtracking (Armijo) line search, stopped when the largest gradient entry is
    at most ``tol`` and half the squared Newton decrement is at most ``tol`` (the convergence
    test of scikit-learn's ``newton-cholesky``). Unlike scikit-learn's Newton solvers, which
    form a weighted copy of ``X`` for every Hessian, the gradient and Hessian are summed chunk
    by chunk: besides ``X`` (float32, C-contiguous, not copied) the fit holds a few float64
    vectors of length N and one chunk.

    Returns
    -------
    coef : numpy.ndarray of float64, shape (D,)
    intercept : float
    n_iter : int
        Newton steps taken.
    converged : bool
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    n, D = X.shape
    y = y.astype(np.float64)
    n_pos = float(y.sum())
    sw = np.where(y == 1, n / (2.0 * n_pos), n / (2.0 * (n - n_pos)))  # class_weight="balanced"
    s_sum = float(sw.sum())
    lam = 1.0 / (C * s_sum)
    w = np.zeros(D + 1)
    if init is not None:
        w[:D], w[D] = np.asarray(init[0], np.float64), float(init[1])

    def matvec(v: np.ndarray) -> np.ndarray:  # X @ v[:D] + v[D], float64 (N,)
        v32 = v[:D].astype(np.float32)
        out = np.empty(n)
        for a in range(0, n, chunk):
            out[a : a + chunk] = X[a : a + chunk] @ v32
        return out + v[D]

    def loss(z: np.ndarray, w_: np.ndarray) -> float:
        return float(sw @ (np.logaddexp(0.0, z) - y * z)) / s_sum + 0.5 * lam * float(w_[:D] @ w_[:D])

    def grad_hess(z: np.ndarray, w_: np.ndarray, hessian: bool):
        p = np.exp(-np.logaddexp(0.0, -z))  # sigmoid
        r = sw * (p - y) / s_sum
        g = np.empty(D + 1)
        g[:D], g[D] = lam * w_[:D], r.sum()
        H: Any = None  # (D + 1, D + 1) with the hessian
        if hessian:
            h = sw * p * (1.0 - p) / s_sum
            H = np.zeros((D + 1, D + 1))
            H[:D, :D] = lam * np.eye(D)
        for a in range(0, n, chunk):
            Xc = X[a : a + chunk]
            g[:D] += Xc.T @ r[a : a + chunk].astype(np.float32)
            if hessian:
                hc = h[a : a + chunk].astype(np.float32)
                H[:D, :D] += Xc.T @ (Xc * hc[:, None])
                H[:D, D] += Xc.T @ hc
        if hessian:
            H[D, :D] = H[:D, D]
            H[D, D] = h.sum()
        return g, H

    z = matvec(w)
    f = loss(z, w)
    g, H = grad_hess(z, w, hessian=True)
    n_iter, converged = 0, False
    while n_iter < max_iter and not converged:
        try:
            step = -cho_solve(cho_factor(H), g)
        except LinAlgError:  # not positive definite in float arithmetic: a gradient step instead
            step = -g
        zs = matvec(step)  # the change of z per unit step (intercept step included)
        slope = float(g @ step)
        t = 1.0
        for _ in range(60):  # Armijo backtracking
            w_new, z_new = w + t * step, z + t * zs
            f_new = loss(z_new, w_new)
            if f_new <= f + 1e-4 * t * slope or abs(f_new - f) <= 16 * np.finfo(np.float64).eps * abs(f):
                break
            t *= 0.5
        n_iter += 1
        w, z, f = w_new, z_new, f_new
        g, _ = grad_hess(z, w, hessian=False)
        # converged: small gradient at the new point and a small Newton decrement of the step taken
        converged = float(np.abs(g).max()) <= tol and 0.5 * float(step @ H @ step) <= tol
        if not converged and n_iter < max_iter:
            g, H = grad_hess(z, w, hessian=True)  # the Hessian pass only when another step follows
    return w[:D], float(w[D]), n_iter, converged


def fit_probe(
    X_train: np.ndarray,
    y_train: np.ndarray,
    *,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    Cs: Sequence[float] = DEFAULT_CS,
    max_train: int | None = None,
    seed: int = 0,
    fast: bool = False,
    grid_n_train: int = GRID_N_TRAIN,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> LinearProbe:
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
    opts = check_probe_options(Cs=Cs, max_train=max_train, fast=fast, who="fit_probe")
    Cs, max_train, fast = opts["Cs"], opts["max_train"], opts["fast"]
    seed = check_int("seed", seed, 0, who="fit_probe: ")
    grid_n_train = check_int("grid_n_train", grid_n_train, 2, who="fit_probe: ")
    max_iter = check_int("max_iter", max_iter, 1, who="fit_probe: ")
    tol = check_float("tol", tol, 0, lo_open=True, who="fit_probe: ")
    X_train = _check_2d(X_train, "X_train")
    y_train = _check_labels(y_train, len(X_train), "y_train")
    idx, n_failed = _training_rows(X_train, fast=fast, max_train=max_train, seed=seed)
    y = y_train[idx]
    if np.unique(y).size < 2:
        raise ValueError(
            f"the {len(idx)} training clips used hold only y={np.unique(y).tolist()}: "
            "a probe needs normal and anomalous training clips (check the train split)"
        )
    settings: dict[str, Any] = {
        "mode": "fast" if fast else "full",
        "max_train": None if max_train is None else int(max_train),
        "seed": seed,
        "n_train": int(len(idx)),
        "n_train_failed": n_failed,
    }
    X = _gather_f32(X_train, idx)
    D = X.shape[1]

    if fast:
        clf, conv = _fit_lr(X, y, 1.0, balanced=False, max_iter=200, tol=1e-4, solver="lbfgs")
        settings.update(
            C=1.0,
            C_grid=None,
            val_auc_by_C=None,
            class_weight=None,
            standardize=False,
            solver="lbfgs",
            grid_n_train=None,
            max_iter=200,
            tol=1e-4,
            n_iter=int(clf.n_iter_[0]),
            converged=conv,
            C_note="fast mode: C = 1 without a search",
        )
        return LinearProbe(
            mean=np.zeros(D),
            scale=np.ones(D),
            coef=clf.coef_[0].astype(np.float64),
            intercept=float(clf.intercept_[0]),
            settings=settings,
        )

    mean, scale = _mean_scale(X)
    _standardize_inplace(X, mean, scale)
    Xv, yv = _val_clips(X_val, y_val, mean, scale)
    if Xv is not None and yv is not None and len(Cs) > 1:
        best, init, val_auc, grid_n = _search_C(
            X, y, Xv, yv, Cs, grid_n_train=grid_n_train, seed=seed, max_iter=int(max_iter), tol=float(tol)
        )
    else:
        best, init, val_auc, grid_n = (Cs[0] if len(Cs) == 1 else 1.0), None, None, None
    del Xv
    coef, intercept, n_iter, conv = _newton_lr(X, y, best, max_iter=int(max_iter), tol=float(tol), init=init)
    settings.update(
        C=best,
        C_grid=sorted(Cs),
        val_auc_by_C=val_auc,
        class_weight="balanced",
        standardize=True,
        solver="newton-cholesky",
        grid_n_train=grid_n,
        max_iter=int(max_iter),
        tol=float(tol),
        n_iter=int(n_iter),
        converged=conv,
        C_note=(
            "no val clips of both classes: C = 1 was used without a search" if val_auc is None and len(Cs) > 1 else None
        ),
    )
    return LinearProbe(mean=mean, scale=scale, coef=coef, intercept=intercept, settings=settings)


def check_probe_options(
    *, Cs: Sequence[float] = DEFAULT_CS, max_train: int | None = None, fast: bool = False, who: str = "fit_probe"
) -> dict[str, Any]:
    """The linear probe's options checked (``Cs`` positive finite numbers, ``max_train``
    None or an int >= 2, ``fast`` a bool), as :func:`fit_probe` takes them (``Cs`` a list of
    floats). TypeError for a wrong type, ValueError for a wrong value."""
    if isinstance(Cs, (str, bytes)) or not hasattr(Cs, "__iter__"):
        raise TypeError(f"{who}: Cs must be a sequence of positive numbers, got Cs={Cs!r}")
    Cs = [check_float(f"Cs[{i}]", c, 0, lo_open=True, who=f"{who}: ") for i, c in enumerate(Cs)]
    if not Cs:
        raise ValueError(f"{who}: Cs must hold at least one positive number, got Cs={Cs!r}")
    return {
        "Cs": Cs,
        "max_train": check_int("max_train", max_train, 2, allow_none=True, who=f"{who}: "),
        "fast": check_bool("fast", fast, who=f"{who}: "),
    }


def _training_rows(X_train: np.ndarray, *, fast: bool, max_train: int | None, seed: int) -> tuple[np.ndarray, int]:
    """(positions of the finite training rows used, ascending; number of non-finite rows)."""
    ok = finite_rows(X_train)
    n_failed = int((~ok).sum())
    idx = np.flatnonzero(ok)
    if fast:
        n = FAST_N_TRAIN if max_train is None else int(max_train)
        idx = idx[:n]
    elif max_train is not None and len(idx) > int(max_train):
        rng = np.random.default_rng([seed, 1])
        idx = np.sort(rng.choice(idx, int(max_train), replace=False))
    return idx, n_failed


def _val_clips(
    X_val: np.ndarray | None, y_val: np.ndarray | None, mean: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The finite val clips, standardised, when they hold both classes; else (None, None)."""
    if X_val is None or y_val is None:
        return None, None
    X_val = _check_2d(X_val, "X_val", len(mean))
    yv_all = _check_labels(y_val, len(X_val), "y_val")
    okv = np.flatnonzero(finite_rows(X_val))
    if np.unique(yv_all[okv]).size != 2:
        return None, None
    Xv = _gather_f32(X_val, okv)
    _standardize_inplace(Xv, mean, scale)
    return Xv, yv_all[okv]


def _search_C(
    X: np.ndarray,
    y: np.ndarray,
    Xv: np.ndarray,
    yv: np.ndarray,
    Cs: Sequence[float],
    *,
    grid_n_train: int,
    seed: int,
    max_iter: int,
    tol: float,
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
        auc = auc_or_none(yv, Xv @ clf.coef_[0] + clf.intercept_[0])
        assert auc is not None  # _val_clips keeps val clips of both classes only
        val_auc[repr(C)] = auc
        sols[C] = prev
    best = max(sorted(Cs), key=lambda c: (val_auc[repr(c)], -c))  # ties: the smaller C
    return best, sols[best], val_auc, int(len(yg))
