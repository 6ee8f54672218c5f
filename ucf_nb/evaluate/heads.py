"""The heads :func:`ucf_nb.run_probe` fits on a run's embeddings, as a seam (like the encoders'):
one interface (:class:`ProbeHead`), one registry (:func:`register_head`, :func:`heads`,
:func:`get_head`), the linear probe and the MIL head its first two members.

A head is one :class:`ProbeHead` subclass with ``@register_head``: its ``name`` (``head=`` of
:func:`ucf_nb.run_probe`, the ``head`` of ``metrics.json``), the ``folder`` it writes under a
run's ``out_dir``, whether it fits on clips or on videos (bags of clips), which keywords of
``run_probe`` it reads (``options``), and four methods: :meth:`~ProbeHead.check_options`
(before any data is read), :meth:`~ProbeHead.fit`, :meth:`~ProbeHead.score_clips` and
:meth:`~ProbeHead.settings` (JSON-ready, what ``metrics.json`` records). ``run_probe``,
:mod:`ucf_nb.evaluate.runs`, the book and notebook 03 read the registry, not a list of names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..checks import check_bool
from .linear import finite_rows
from .metrics import category_label

__all__ = ["ProbeHead", "register_head", "heads", "get_head"]

_REGISTRY: dict[str, ProbeHead] = {}

Split = tuple  # (X (N, D) embeddings, y (N,) clip labels, rows: the index rows), as load_embeddings returns


class ProbeHead:
    """One kind of head on clip embeddings, as :func:`ucf_nb.run_probe` runs it.

    Subclasses set the class attributes and override :meth:`fit`, :meth:`score_clips` and,
    where needed, :meth:`check_options`, :meth:`settings` and :meth:`n_train_failed`.

    Attributes
    ----------
    name : str
        ``run_probe(head=name)``; recorded as ``metrics.json["head"]``.
    folder : str
        Where it writes under a run's ``out_dir`` (``probe``, ``probe-<name>``).
    title : str
        How tables and the book name it ("Linear probe").
    fits_on : {"clips", "bags"}
        Clips labelled with their video's label, or videos as bags of clips with video labels.
    options : tuple of str
        The keywords of ``run_probe`` this head reads (the others must stay at their defaults).
    shown_settings : tuple of str
        The keys of its ``settings`` that notebook 03 shows, in order.
    """

    name: ClassVar[str] = ""
    folder: ClassVar[str] = ""
    title: ClassVar[str] = ""
    fits_on: ClassVar[str] = "clips"
    options: ClassVar[tuple[str, ...]] = ()
    shown_settings: ClassVar[tuple[str, ...]] = ()

    def check_options(self, **options: Any) -> dict[str, Any]:
        """``options`` (the keywords of :attr:`options`) checked, before any data is read;
        returns what :meth:`fit` gets."""
        return dict(options)

    def fit(self, train: Split, val: Split | None, *, seed: int, **options: Any) -> Any:
        """The fitted head on ``train`` (``val``: to choose its settings on; None when val is
        not extracted). ``options``: what :meth:`check_options` returned."""
        raise NotImplementedError

    def score_clips(self, fitted: Any, split: str, X: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
        """Anomaly score in [0, 1] of each clip of ``split`` (``X`` (N, D), ``rows`` its index
        rows), float64 (N,); NaN for clips whose embedding is not finite."""
        raise NotImplementedError

    def settings(self, fitted: Any) -> dict[str, Any]:
        """How ``fitted`` was fitted, as ``metrics.json["settings"]`` records it (JSON-ready)."""
        return dict(fitted.settings)

    def fit_warnings(self, settings: Mapping[str, Any], why_no_val: Callable[[], str]) -> list[str]:
        """One sentence per setting that should have been chosen on val and was not
        (``metrics.json``'s ``warnings``); ``why_no_val()`` says why val could not choose, as
        a clause. The default: none."""
        return []

    def n_train_failed(self, fitted: Any, X_train: np.ndarray) -> int:
        """Training clips left out because their embedding is not finite."""

        return int((~finite_rows(X_train)).sum())


def register_head(cls: type[ProbeHead]) -> type[ProbeHead]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, ProbeHead)):
        raise TypeError(f"register_head takes a ProbeHead subclass, got {cls!r}")
    if not cls.name or not cls.folder:
        raise ValueError(f"{cls.__name__} must set name and folder")
    if cls.fits_on not in ("clips", "bags"):
        raise ValueError(f"{cls.__name__}.fits_on must be 'clips' or 'bags', got {cls.fits_on!r}")
    for other in _REGISTRY.values():
        if type(other) is not cls and (other.name == cls.name or other.folder == cls.folder):
            raise ValueError(
                f"head {cls.name!r} (folder {cls.folder!r}) clashes with {type(other).__name__}: "
                "give it its own name and folder"
            )
    _REGISTRY[cls.name] = cls()
    return cls


def heads() -> tuple[str, ...]:
    """Names of the registered heads, in the order they were registered (``"linear"`` first)."""
    return tuple(_REGISTRY)


def get_head(name: str) -> ProbeHead:
    """The registered head called ``name``; ValueError naming the known ones otherwise."""
    head = _REGISTRY.get(name) if isinstance(name, str) else None
    if head is None:
        raise ValueError(
            f"head must be one of {heads()}, got head={name!r}: add one in ucf_nb/evaluate/ "
            "(a ProbeHead subclass with @register_head)"
        )
    return head


def head_for_folder(folder: str) -> str:
    """The head that writes into ``folder`` (``probe`` -> ``"linear"``); for a folder no head
    registered here claims, the name after ``probe-``."""
    for head in _REGISTRY.values():
        if head.folder == folder:
            return head.name
    return folder.split("-", 1)[1] if "-" in folder else folder


# ------------------------------------------------------------------------------ the two heads


@register_head
class LinearHead(ProbeHead):
    """:func:`ucf_nb.fit_probe` on the training clips, each labelled with its video's label,
    ``C`` chosen on val."""

    name = "linear"
    folder = "probe"
    title = "Linear probe"
    fits_on = "clips"
    options = ("Cs", "max_train", "fast")
    shown_settings = (
        "mode",
        "C",
        "C_grid",
        "val_auc_by_C",
        "class_weight",
        "standardize",
        "solver",
        "max_train",
        "seed",
        "n_train",
        "n_train_failed",
        "grid_n_train",
        "n_iter",
        "converged",
    )

    def check_options(self, **options: Any) -> dict[str, Any]:
        from .linear import check_probe_options

        return check_probe_options(who="run_probe", **options)

    def fit(self, train: Split, val: Split | None, *, seed: int, **options: Any) -> Any:
        from .linear import fit_probe

        X_va, y_va = (val[0], val[1]) if val is not None else (None, None)
        return fit_probe(train[0], train[1], X_val=X_va, y_val=y_va, seed=seed, **options)

    def score_clips(self, fitted: Any, split: str, X: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
        return fitted.score_clips(X)

    def n_train_failed(self, fitted: Any, X_train: np.ndarray) -> int:
        return int(fitted.settings["n_train_failed"])

    def fit_warnings(self, settings: Mapping[str, Any], why_no_val: Callable[[], str]) -> list[str]:
        if settings.get("mode") == "fast" or not settings.get("C_note") or len(settings.get("C_grid") or ()) < 2:
            return []
        return [
            f"linear probe: C was not chosen on val because {why_no_val()}: C = {settings['C']:g} "
            "was used without a search, and the val metrics are not a model selection"
        ]


@register_head
class MILRankingHead(ProbeHead):
    """:func:`ucf_nb.fit_mil` (Sultani et al. 2018) on the training videos as bags of clips with
    video labels only; its iteration count chosen on val, then refit on train + val. Test is
    scored by the refit head, val by the head fitted on train only (the one chosen on val)."""

    name = "mil"
    folder = "probe-mil"
    title = "MIL head"
    fits_on = "bags"
    options = ("mil_params",)
    shown_settings = (
        "best_iter",
        "max_iter",
        "eval_every",
        "patience",
        "batch_size",
        "lr",
        "weight_decay",
        "dropout",
        "hidden",
        "lambda_smooth",
        "lambda_sparse",
        "val_source",
        "n_train_videos",
        "n_val_videos",
        "fitted_on",
        "n_refit_videos",
        "val_scored_by",
    )

    def check_options(self, **options: Any) -> dict[str, Any]:
        from .mil import MILParams  # torch: imported when the MIL head is used, not with ucf_nb.evaluate

        given = options.get("mil_params")
        progress = True  # minutes at full size: notebook 03 shows the bar
        if given is not None and not isinstance(given, MILParams) and hasattr(given, "keys") and "progress" in given:
            given = dict(given)
            progress = check_bool("progress", given.pop("progress"), who="run_probe: mil_params: ")
        return {"params": MILParams.from_mapping(given, who="run_probe"), "progress": progress}

    def fit(self, train: Split, val: Split | None, *, seed: int, **options: Any) -> Any:
        from .mil import fit_mil  # torch: imported when the MIL head is used, not with ucf_nb.evaluate

        _, bags, labels, _ = video_bags(train[0], train[2])
        kw: dict[str, Any] = {}
        if val is not None:
            _, vb, vl, _ = video_bags(val[0], val[2])
            if np.unique(vl).size == 2:
                kw.update(val_bags=vb, val_labels=vl)
        return fit_mil(bags, labels, seed=seed, params=options["params"], progress=options["progress"], **kw)

    def score_clips(self, fitted: Any, split: str, X: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
        head = fitted.selected if split == "val" and fitted.selected is not None else fitted
        out = np.full(len(rows), np.nan)
        _, bags, _, groups = video_bags(X, rows)
        for bag, g in zip(bags, groups):
            out[g] = head.score_clips(bag)
        return out

    def settings(self, fitted: Any) -> dict[str, Any]:
        settings = dict(fitted.settings)
        if fitted.selected is None:
            settings["val_scored_by"] = "the head itself"
        elif settings.get("note"):  # no val to choose on: it ran every iteration
            settings["val_scored_by"] = (
                "the head fitted on train only (run for max_iter iterations: no val to choose on)"
            )
        else:
            settings["val_scored_by"] = "the head fitted on train only (chosen on val)"
        return settings

    def fit_warnings(self, settings: Mapping[str, Any], why_no_val: Callable[[], str]) -> list[str]:
        if not settings.get("note"):
            return []
        return [
            f"MIL head: the iteration count was not chosen on val because {why_no_val()}: it ran all "
            f"max_iter = {settings.get('max_iter')} iterations without early stopping, and the refit on "
            "train + val used that count"
        ]


def video_bags(X: np.ndarray, rows: pd.DataFrame) -> tuple[list[str], list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """Split a split's rows by video: names, per-video embeddings (clips in temporal order),
    video labels (1 unless Normal) and each video's row positions in ``X``."""

    pos = np.arange(len(rows))
    order = np.lexsort((rows["start_frame"].to_numpy(), rows["video"].astype(str).to_numpy()))
    names = rows["video"].astype(str).to_numpy()[order]
    cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
    groups = np.split(pos[order], cuts) if len(order) else []
    label = category_label(rows)
    videos, bags, labels = [], [], []
    for g in groups:
        videos.append(str(rows["video"].iloc[int(g[0])]))
        contiguous = bool((np.diff(g) == 1).all())
        bags.append(X[int(g[0]) : int(g[-1]) + 1] if contiguous else np.asarray(X[g]))
        labels.append(int(label[g].max()))
    return videos, bags, np.asarray(labels, dtype=np.int8), groups
