"""The figures the notebooks show. Each function takes data, returns a matplotlib Figure.

The core modules never import this one: figures are the notebooks' business.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from ..evaluate.metrics import SCORED_SPLITS, frame_scores
from ..index.annotations import SPLITS

__all__: list[str] = []  # each section appends its names

# --- index figures (01_index_checks) -------------------------------------------------------

__all__ += ["plot_clips_per_split", "plot_clips_per_category", "plot_video_lengths"]

def _split_order(df) -> list[str]:
    present = list(dict.fromkeys(df["split"].astype(str)))
    return [s for s in SPLITS if s in present] + [s for s in present if s not in SPLITS]


def _legend_outside(ax, **kwargs) -> None:
    """The legend to the right of the axes, where it can cover no bar and no label."""
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kwargs)


def plot_clips_per_split(df):
    """Bars of clips per split, normal (y=0) beside anomalous (y=1), counts on the bars.

    Parameters
    ----------
    df : pandas.DataFrame
        An index (``split`` and ``y`` columns).
    """
    import numpy as np

    splits = _split_order(df)
    table = df.groupby([df["split"].astype(str), df["y"]]).size().unstack(fill_value=0)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(len(splits))
    width = 0.38
    for offset, (label, name, color) in zip((-width / 2, width / 2),
                                            ((0, "normal (y=0)", "tab:blue"),
                                             (1, "anomalous (y=1)", "tab:red"))):
        heights = [int(table.loc[s, label]) if label in table.columns else 0 for s in splits]
        bars = ax.bar(x + offset, heights, width, label=name, color=color)
        ax.bar_label(bars, fmt="%d", fontsize=8)
    ax.set_xticks(x, splits)
    ax.set_ylabel("clips")
    ax.set_title("Clips per split and class")
    ax.margins(y=0.15)
    _legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_clips_per_category(df):
    """Horizontal bars of clips per category, stacked by split.

    Parameters
    ----------
    df : pandas.DataFrame
        An index (``split`` and ``category`` columns).
    """
    import numpy as np

    splits = _split_order(df)
    table = df.groupby([df["category"].astype(str), df["split"].astype(str)]).size() \
        .unstack(fill_value=0).reindex(columns=splits, fill_value=0)
    table = table.loc[table.sum(axis=1).sort_values().index]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(table) + 1.4))
    left = np.zeros(len(table))
    for split in splits:
        ax.barh(table.index, table[split].to_numpy(), left=left, label=split)
        left += table[split].to_numpy()
    ax.set_xlabel("clips")
    ax.set_title("Clips per category")
    _legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_video_lengths(df):
    """Histogram of video lengths in seconds (``n_frames / fps``), one filled panel per split
    on a shared axis, log-spaced bins when lengths span more than 10x (UCF-Crime: seconds to
    an hour).

    Parameters
    ----------
    df : pandas.DataFrame
        An index (``split``, ``path``, ``n_frames`` and ``fps`` columns); one value per video.
    """
    import numpy as np
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    videos = df.drop_duplicates("path")
    seconds = (videos["n_frames"] / videos["fps"]).to_numpy(dtype=float)
    splits = _split_order(videos)
    fig, axes = plt.subplots(len(splits), 1, figsize=(6, 1.0 + 1.2 * len(splits)), sharex=True,
                             squeeze=False)
    axes = axes[:, 0]
    lo, hi = float(np.nanmin(seconds)), float(np.nanmax(seconds))
    log = lo > 0 and hi / lo > 10
    if log:
        bins = np.geomspace(lo * 0.95, hi * 1.05, 30)
    else:
        bins = np.linspace(lo * 0.95, hi * 1.05 if hi > lo else lo * 1.05 + 1, 30)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (ax, split) in enumerate(zip(axes, splits)):
        sel = videos["split"].astype(str).to_numpy() == split
        ax.hist(seconds[sel], bins=bins, color=colors[i % len(colors)], alpha=0.85,
                edgecolor="white", linewidth=0.5)
        ax.set_ylabel("videos")
        ax.text(0.99, 0.9, f"{split}: {int(sel.sum())} videos", transform=ax.transAxes,
                ha="right", va="top", fontsize=9)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
        ax.margins(y=0.35)
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[-1].set_xlabel("video length (s)" + (", log scale" if log else ""))
    axes[0].set_title("Video lengths")
    fig.tight_layout()
    return fig

# --- extraction figures (02_extract) -------------------------------------------------------

__all__ += ["plot_embedding_projection"]


def plot_embedding_projection(X, y, *, sample: int = 2000, seed: int = 0, title: str | None = None):
    """2-D PCA of a seeded sample of embeddings, one colour per label.

    Parameters
    ----------
    X : array-like, shape (N, D) or (N, V, D)
        Embeddings (a float16 memmap is fine: only the sampled rows are read). All-NaN rows
        (failed clips) are left out. Several views per clip (ten-crop): their mean is projected.
    y : array-like, shape (N,)
        Labels (0 normal, 1 anomalous).
    sample : int
        At most this many rows, drawn without replacement with ``numpy.random.default_rng(seed)``.
    """
    import numpy as np
    from sklearn.decomposition import PCA

    y = np.asarray(y)
    n = len(y)
    if getattr(X, "ndim", 2) not in (2, 3) or len(X) != n:
        raise ValueError(f"X must be (N, D) or (N, V, D) with N = len(y) = {n}, got shape {getattr(X, 'shape', None)}")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=min(int(sample), n), replace=False)) if n else np.zeros(0, int)
    Xs = np.asarray(X[idx], dtype=np.float32)
    if Xs.ndim == 3:
        Xs = Xs.mean(axis=1)
    keep = np.isfinite(Xs).all(axis=1)
    Xs, ys = Xs[keep], y[idx][keep]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    if len(Xs) >= 2 and Xs.shape[1] >= 2:
        pca = PCA(n_components=2, random_state=seed)
        Z = pca.fit_transform(Xs)
        names = {0: "normal (y=0)", 1: "anomalous (y=1)"}
        colors = {0: "tab:blue", 1: "tab:red"}
        for label in np.unique(ys):
            sel = ys == label
            ax.scatter(Z[sel, 0], Z[sel, 1], s=8, alpha=0.6, color=colors.get(int(label)),
                       label=f"{names.get(int(label), f'y={label}')} ({int(sel.sum())})")
        ev = pca.explained_variance_ratio_
        ax.set_xlabel(f"PC1 ({ev[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({ev[1]:.0%} of variance)")
        ax.legend(frameon=False, fontsize=8)
    else:
        ax.text(0.5, 0.5, "not enough finite embeddings to project", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_title(title or f"Embeddings, PCA of {len(Xs)} clips")
    fig.tight_layout()
    return fig


# --- probe figures (03_probe) --------------------------------------------------------------

__all__ += ["plot_roc_curves", "plot_pr_curves", "plot_per_category_auc", "plot_score_timelines"]


def _scored_arrays(df):
    """(y, score) of the clips with a finite score."""
    import numpy as np

    s = df["score"].to_numpy(dtype=float)
    ok = np.isfinite(s)
    return df["y"].to_numpy()[ok], s[ok]


def plot_roc_curves(scores):
    """Clip-level ROC curves, one per split, with the AUC in the legend.

    Parameters
    ----------
    scores : mapping split -> pandas.DataFrame
        ``ProbeResult.scores``: columns ``y`` and ``score`` (NaN scores are left out).
    """
    import numpy as np
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    for split in [s for s in SCORED_SPLITS if s in scores]:
        y, s = _scored_arrays(scores[split])
        if np.unique(y).size < 2:
            continue
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{split} (AUC {roc_auc_score(y, s):.3f}, {len(y)} clips)")
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("Clip-level ROC")
    ax.set_aspect("equal")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_pr_curves(scores):
    """Clip-level precision-recall curves, one per split, with the share of anomalous clips
    (a random probe's precision) as a dotted line.

    Parameters
    ----------
    scores : mapping split -> pandas.DataFrame
        ``ProbeResult.scores``: columns ``y`` and ``score``.
    """
    import numpy as np
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    for split in [s for s in SCORED_SPLITS if s in scores]:
        y, s = _scored_arrays(scores[split])
        if np.unique(y).size < 2:
            continue
        precision, recall, _ = precision_recall_curve(y, s)
        line, = ax.step(recall, precision, where="post",
                        label=f"{split} (AP {average_precision_score(y, s):.3f})")
        ax.axhline(float(np.mean(y)), color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("Clip-level precision-recall")
    ax.legend(frameon=False, fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def plot_per_category_auc(metrics):
    """Bars of each anomaly category's clip ROC AUC against the normal clips (val and test).

    Parameters
    ----------
    metrics : mapping
        ``ProbeResult.metrics`` (keys ``per_category_auc_val`` / ``per_category_auc_test``).
        Categories whose AUC is missing are shown without a bar.
    """
    import numpy as np

    splits = [s for s in SCORED_SPLITS if metrics.get(f"per_category_auc_{s}")]
    cats = sorted({c for s in splits for c in metrics[f"per_category_auc_{s}"]})
    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(cats), 1) * max(len(splits), 1) + 1.5))
    y = np.arange(len(cats))
    height = 0.8 / max(len(splits), 1)
    for i, split in enumerate(splits):
        vals = [metrics[f"per_category_auc_{split}"].get(c) for c in cats]
        v = np.array([np.nan if x is None else x for x in vals], dtype=float)
        bars = ax.barh(y + (i - (len(splits) - 1) / 2) * height, np.nan_to_num(v), height, label=split)
        ax.bar_label(bars, labels=["n/a" if np.isnan(x) else f"{x:.2f}" for x in v], fontsize=7, padding=2)
    ax.axvline(0.5, color="0.6", linestyle=":", linewidth=1)
    ax.set_yticks(y, cats)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("ROC AUC (category's clips against normal clips)")
    ax.set_title("Clip ROC AUC per anomaly category")
    if splits:
        _legend_outside(ax, fontsize=8)
    else:
        ax.text(0.5, 0.5, "no per-category AUC", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


def plot_score_timelines(scored, intervals=None, *, videos=None, n_anomalous=3, n_normal=2):
    """Frame-level score of a few test videos, annotated anomalous intervals shaded.

    Parameters
    ----------
    scored : pandas.DataFrame
        ``ProbeResult.scores["test"]`` (columns ``video``, ``category``, ``start_frame``,
        ``end_frame``, ``n_frames``, ``score``).
    intervals : mapping, optional
        Video -> half-open anomalous intervals (``ProbeResult.intervals``).
    videos : sequence of str, optional
        Which videos; default the first ``n_anomalous`` anomalous and ``n_normal`` normal
        videos in name order (anomalous: annotated intervals, or a non-Normal category).
    """
    import numpy as np

    names = sorted(scored["video"].astype(str).unique())
    if videos is None:
        cat = scored.groupby(scored["video"].astype(str))["category"].first().astype(str) \
            if "category" in scored.columns else None

        def anomalous(v):
            if intervals is not None and v in intervals:
                return len(getattr(intervals[v], "intervals", intervals[v]) or ()) > 0
            return cat is not None and cat[v] != "Normal"

        videos = [v for v in names if anomalous(v)][:n_anomalous] + \
                 [v for v in names if not anomalous(v)][:n_normal]
    videos = list(videos)
    fs = frame_scores(scored[scored["video"].astype(str).isin(videos)])
    fig, axes = plt.subplots(max(len(videos), 1), 1, figsize=(8, 1.5 * max(len(videos), 1) + 0.6),
                             sharey=True, squeeze=False)
    for ax, v in zip(axes[:, 0], videos):
        s = fs.get(v, np.zeros(0))
        ax.plot(np.arange(len(s)), s, color="tab:red", linewidth=1.2)
        for start, end in (getattr(intervals.get(v), "intervals", intervals.get(v)) or ()) if intervals else ():
            ax.axvspan(start, min(end, len(s)), color="tab:orange", alpha=0.25, linewidth=0)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, max(len(s) - 1, 1))
        ax.set_ylabel("score", fontsize=8)
        ax.set_title(v, fontsize=9, loc="left")
    if not videos:
        axes[0, 0].text(0.5, 0.5, "no test video", ha="center", va="center", transform=axes[0, 0].transAxes)
    axes[-1, 0].set_xlabel("frame")
    fig.suptitle("Frame scores of test videos (annotated anomalies shaded)", fontsize=10)
    fig.tight_layout()
    return fig


# --- comparison figures (04_compare) -------------------------------------------------------

__all__ += ["plot_compare_roc", "plot_category_heatmap"]


def plot_compare_roc(points):
    """ROC curves of several runs on one plot, AUC in the legend, best first.

    Parameters
    ----------
    points : mapping label -> {"fpr", "tpr", "auc", "level"}
        :func:`ucf_nb.evaluate.runs.roc_points`; ``level`` ("frame" or "clip") names the plot.
    """
    fig, ax = plt.subplots(figsize=(5.6, 5))
    levels = sorted({p["level"] for p in points.values()})
    for label, p in sorted(points.items(), key=lambda kv: -kv[1]["auc"]):
        ax.plot(p["fpr"], p["tpr"], linewidth=1.4, label=f"{label} (AUC {p['auc']:.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"{' and '.join(levels).capitalize() or 'No'}-level ROC, test split, every run")
    ax.set_aspect("equal")
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    if not points:
        ax.text(0.5, 0.5, "no run has test scores", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


def plot_category_heatmap(table):
    """Heatmap of per-category ROC AUC: anomaly categories (rows) x runs (columns).

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`ucf_nb.evaluate.runs.per_category_table`; NaN cells (AUC not computable) stay blank.
    """
    import numpy as np

    values = table.to_numpy(dtype=float) if table.size else np.zeros((0, 0))
    fig, ax = plt.subplots(figsize=(1.3 * max(table.shape[1], 1) + 3, 0.4 * max(table.shape[0], 1) + 1.8))
    if values.size:
        im = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, "n/a" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if np.isnan(v) or v < 0.6 else "black")
        ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
        fig.colorbar(im, ax=ax, label="ROC AUC (category's clips against normal clips)")
    else:
        ax.text(0.5, 0.5, "no per-category AUC", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    ax.set_title("Clip ROC AUC per anomaly category, test split")
    fig.tight_layout()
    return fig
