"""The figures the notebooks show. Each function takes data, returns a matplotlib Figure.

The core modules never import this one: figures are the notebooks' business.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from ..evaluate.metrics import SCORED_SPLITS, frame_scores
from ..evaluate.runs import ranked_table
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
    for offset, (label, name, color) in zip(
        (-width / 2, width / 2), ((0, "normal (y=0)", "tab:blue"), (1, "anomalous (y=1)", "tab:red"))
    ):
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
    table = (
        df.groupby([df["category"].astype(str), df["split"].astype(str)])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=splits, fill_value=0)
    )
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
    fig, axes = plt.subplots(len(splits), 1, figsize=(6, 1.0 + 1.2 * len(splits)), sharex=True, squeeze=False)
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
        ax.hist(seconds[sel], bins=bins, color=colors[i % len(colors)], alpha=0.85, edgecolor="white", linewidth=0.5)
        ax.set_ylabel("videos")
        ax.text(
            0.99, 0.9, f"{split}: {int(sel.sum())} videos", transform=ax.transAxes, ha="right", va="top", fontsize=9
        )
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
            ax.scatter(
                Z[sel, 0],
                Z[sel, 1],
                s=8,
                alpha=0.6,
                color=colors.get(int(label)),
                label=f"{names.get(int(label), f'y={label}')} ({int(sel.sum())})",
            )
        ev = pca.explained_variance_ratio_
        ax.set_xlabel(f"PC1 ({ev[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({ev[1]:.0%} of variance)")
        ax.legend(frameon=False, fontsize=8)
    else:
        ax.text(0.5, 0.5, "not enough finite embeddings to project", ha="center", va="center", transform=ax.transAxes)
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
        (line,) = ax.step(recall, precision, where="post", label=f"{split} (AP {average_precision_score(y, s):.3f})")
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
        cat = (
            scored.groupby(scored["video"].astype(str))["category"].first().astype(str)
            if "category" in scored.columns
            else None
        )

        def anomalous(v):
            if intervals is not None and v in intervals:
                return len(getattr(intervals[v], "intervals", intervals[v]) or ()) > 0
            return cat is not None and cat[v] != "Normal"

        videos = [v for v in names if anomalous(v)][:n_anomalous] + [v for v in names if not anomalous(v)][:n_normal]
    videos = list(videos)
    fs = frame_scores(scored[scored["video"].astype(str).isin(videos)])
    fig, axes = plt.subplots(
        max(len(videos), 1), 1, figsize=(8, 1.5 * max(len(videos), 1) + 0.6), sharey=True, squeeze=False
    )
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

__all__ += ["plot_headline_forest", "plot_compare_roc", "plot_category_heatmap"]

#: Width of the comparison figures, in inches. The notebook shows a figure as a PNG at 100 dpi
#: cropped to its drawing plus 0.1 in on each side (``bbox_inches="tight"``): at most 650 pixels,
#: which the book's text column (664 pixels for an image at a 1280-pixel window) shows at its
#: own size, never shrunk, so that its 7-point text stays 7 points.
COLUMN_WIDTH_IN = 6.3

#: one colour per encoder family, the same in every comparison figure; other families take
#: the colours after these
_FAMILIES = ("timesformer", "videomae", "vivit", "vjepa2", "xclip", "clip")
#: one marker (forest plot) and line style (ROC) per probe head
_HEAD_MARKERS = {"linear": "o", "mil": "s"}
_HEAD_LINES = {"linear": "-", "mil": "--"}


def _family_colors(families) -> dict:
    """Family -> colour: the known families' fixed colours, then tab10's next ones, then grey."""
    import matplotlib as mpl

    palette = mpl.colormaps["tab10"].colors  # type: ignore[attr-defined]  # tab10 is a ListedColormap
    colors = {f: palette[i] for i, f in enumerate(_FAMILIES)}
    extra = [f for f in dict.fromkeys(families) if f not in colors]
    for i, f in enumerate(extra):
        colors[f] = palette[len(_FAMILIES) + i] if len(_FAMILIES) + i < len(palette) else (0.5, 0.5, 0.5)
    return colors


def _head_style(head: str, table: dict, cycle: tuple) -> str:
    """The marker or line style of ``head``: fixed for linear and MIL, the next of ``cycle`` else."""
    if head not in table:
        table[head] = cycle[(len(table) - 2) % len(cycle)]
    return table[head]


def plot_headline_forest(table):
    """The headline metric of every run and head with its 95% CI, best at the top (a forest plot).

    One row per run and probe head, in :func:`ucf_nb.compare_runs`' order: a point at the
    headline, a bar over its 95% bootstrap interval, coloured by encoder family, the marker
    naming the head. The best row's interval is shaded across the plot: a row whose bar reaches
    into the band is within the noise of the best. Rows without the headline are left out (the
    title counts them).

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`ucf_nb.compare_runs` (``attrs["headline"]`` names the metric; its interval is
        read from ``<headline>_ci_low`` / ``_ci_high`` where the heads report one).
    """
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    frame = ranked_table(table).frame
    headline = table.attrs.get("headline")
    shown = frame[np.isfinite(frame["auc"].to_numpy(dtype=float))].reset_index(drop=True)
    n = len(shown)
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 0.24 * max(n, 1) + 1.9), layout="constrained")
    if not n:
        ax.text(0.5, 0.5, "no run reports a test metric", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    families = [str(f) for f in shown["family"]]
    colors = _family_colors(families)
    markers = dict(_HEAD_MARKERS)
    y = np.arange(n)
    low, high = shown["ci_low"].to_numpy(dtype=float), shown["ci_high"].to_numpy(dtype=float)
    auc = shown["auc"].to_numpy(dtype=float)
    best_low, best_high = low[0], high[0]
    if np.isfinite(best_low) and np.isfinite(best_high):
        ax.axvspan(best_low, best_high, color="0.85", zorder=0, linewidth=0)
    for i, row in shown.iterrows():
        color = colors[families[i]]
        if np.isfinite(low[i]) and np.isfinite(high[i]):
            ax.plot([low[i], high[i]], [i, i], color=color, linewidth=1.6, solid_capstyle="butt", zorder=2)
        ax.plot(
            auc[i],
            i,
            linestyle="none",
            marker=_head_style(str(row["head"]), markers, ("D", "^", "v", "P")),
            markersize=5.5,
            color=color,
            markeredgecolor="white",
            markeredgewidth=0.6,
            zorder=3,
        )
    ax.set_yticks(y, [f"{r} ({h})" for r, h in zip(shown["run"], shown["head"])], fontsize=7)
    ax.set_ylim(n - 0.5, -0.5)  # best at the top
    finite = np.concatenate([auc, low[np.isfinite(low)], high[np.isfinite(high)]])
    lo, hi = float(finite.min()), float(finite.max())
    pad = max(0.02, 0.05 * (hi - lo))
    ax.set_xlim(max(0.0, lo - pad), min(1.0, hi + pad))
    if ax.get_xlim()[0] < 0.5 < ax.get_xlim()[1]:
        ax.axvline(0.5, color="0.5", linestyle=":", linewidth=1, zorder=1)
    ax.grid(axis="x", color="0.92", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    ax.tick_params(axis="x", labelsize=8)
    has_ci = bool(np.isfinite(low).any())
    ax.set_xlabel(f"{headline}" + (" with its 95% bootstrap CI" if has_ci else ""), fontsize=8.5)
    left_out = len(frame) - n
    ax.set_title(
        f"{headline}, best first" + (f" ({left_out} rows without it left out)" if left_out else ""), fontsize=9.5
    )
    handles = [Line2D([], [], color=colors[f], linewidth=1.6, label=f) for f in dict.fromkeys(families)]
    handles += [
        Line2D([], [], linestyle="none", marker=m, color="0.3", markersize=5.5, label=f"{h} head")
        for h, m in markers.items()
        if h in set(shown["head"])
    ]
    if np.isfinite(best_low) and np.isfinite(best_high):
        handles.append(Patch(color="0.85", label="CI of the best"))
    if ax.get_xlim()[0] < 0.5 < ax.get_xlim()[1]:
        handles.append(Line2D([], [], color="0.5", linestyle=":", linewidth=1, label="chance"))
    rows = -(-len(handles) // 6)  # at most six entries a row, the rows evenly filled
    fig.legend(handles=handles, loc="outside lower center", ncol=-(-len(handles) // rows), frameon=False, fontsize=7.5)
    return fig


def plot_compare_roc(points):
    """ROC curves of every run and head: one panel per encoder family, on the same axes.

    In a panel, each run has its own colour and each probe head its own line style (linear
    solid, MIL dashed); the legend under the panel names the run, the head and the AUC, best
    first. The figure is as wide as the book's column and grows with the number of families
    and of curves per family.

    Parameters
    ----------
    points : mapping label -> {"fpr", "tpr", "auc", "level", "run", "head", "family"}
        :func:`ucf_nb.evaluate.runs.roc_points`; ``level`` ("frame" or "clip") names the plot. Without
        ``run``/``head``/``family`` a curve is its own run, linear head, family "runs".
    """
    import math

    import matplotlib as mpl

    levels = sorted({p["level"] for p in points.values()})
    groups: dict[str, list] = {}
    for label, p in sorted(points.items(), key=lambda kv: -kv[1]["auc"]):
        groups.setdefault(str(p.get("family") or "runs"), []).append((label, p))
    families = sorted(groups, key=lambda f: (_FAMILIES.index(f) if f in _FAMILIES else len(_FAMILIES), f))
    ncols = 1 if len(families) <= 1 else 2
    nrows = max(1, math.ceil(len(families) / ncols))
    most = max((len(g) for g in groups.values()), default=1)
    panel = 2.9 if ncols == 2 else 4.4
    legend = 0.13 * most + 0.1  # a row of its own under each row of panels, one line per curve
    fig = plt.figure(figsize=(COLUMN_WIDTH_IN, nrows * (panel + legend) + 0.4), layout="constrained")
    grid = fig.add_gridspec(2 * nrows, ncols, height_ratios=[panel, legend] * nrows)
    title = f"{' and '.join(levels).capitalize() or 'No'}-level ROC, test split"
    fig.suptitle(title + (", one panel per encoder family" if len(families) > 1 else ""), fontsize=10)
    palette = mpl.colormaps["tab10"].colors
    first = None
    for k, family in enumerate(families or ["runs"]):
        row, col = divmod(k, ncols)
        ax = fig.add_subplot(grid[2 * row, col], sharex=first, sharey=first)
        first = first or ax
        colors: dict[str, tuple] = {}
        lines = dict(_HEAD_LINES)
        for label, p in groups.get(family, []):
            run, head = str(p.get("run") or label), str(p.get("head") or "linear")
            color = colors.setdefault(run, palette[len(colors) % len(palette)])
            ax.plot(
                p["fpr"],
                p["tpr"],
                color=color,
                linewidth=1.3,
                linestyle=_head_style(head, lines, ("-.", ":")),
                label=f"{run} ({head}) {p['auc']:.3f}",
            )
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=0.8)
        ax.set_title(family if families else "", fontsize=9)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7, labelbottom=True, labelleft=True)
        ax.set_xlabel("false positive rate", fontsize=7.5)
        ax.set_ylabel("true positive rate" if col == 0 else "", fontsize=7.5)
        if not points:
            ax.text(0.5, 0.5, "no run has test scores", ha="center", va="center", transform=ax.transAxes)
            continue
        holder = fig.add_subplot(grid[2 * row + 1, col])  # the legend's own space: it covers nothing
        holder.set_axis_off()
        holder.legend(
            *ax.get_legend_handles_labels(),
            loc="upper center",
            frameon=False,
            fontsize=6.5,
            handlelength=2.2,
            borderaxespad=0.0,
        )
    return fig


def plot_category_heatmap(table):
    """Heatmap of per-category ROC AUC: one row per run, one column per anomaly category.

    The figure is as wide as the book's column and one row taller per run, so run names read
    horizontally at any number of runs; each cell prints its AUC.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`ucf_nb.evaluate.runs.per_category_table` (categories x runs); NaN cells (AUC not
        computable) read "n/a".
    """
    import numpy as np

    data = table.T  # runs x categories
    values = data.to_numpy(dtype=float) if data.size else np.zeros((0, 0))
    n_runs, n_cats = data.shape
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 0.28 * max(n_runs, 1) + 1.9), layout="constrained")
    if values.size:
        im = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        for (i, j), v in np.ndenumerate(values):
            ax.text(
                j,
                i,
                "n/a" if np.isnan(v) else f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if np.isnan(v) or v < 0.6 else "black",
            )
        ax.set_xticks(range(n_cats), data.columns, rotation=90 if n_cats > 6 else 0, fontsize=7.5)
        ax.set_yticks(range(n_runs), data.index, fontsize=7)
        ax.tick_params(length=0)
        fig.colorbar(im, ax=ax, label="ROC AUC", shrink=min(1.0, 4.0 / max(n_runs, 1) + 0.4), aspect=25)
    else:
        ax.text(0.5, 0.5, "no per-category AUC", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    ax.set_title("Clip ROC AUC per anomaly category, test split", fontsize=9)
    return fig
