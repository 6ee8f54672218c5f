"""The figures the notebooks show. Each function takes data, returns a matplotlib Figure.

The core modules never import this one: figures are the notebooks' business.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

__all__: list[str] = []  # each section appends its names

# --- index figures (01_index_checks) -------------------------------------------------------

__all__ += ["plot_clips_per_split", "plot_clips_per_category", "plot_video_lengths"]

_INDEX_SPLITS = ("train", "val", "test")


def _split_order(df) -> list[str]:
    present = list(dict.fromkeys(df["split"].astype(str)))
    return [s for s in _INDEX_SPLITS if s in present] + [s for s in present
                                                         if s not in _INDEX_SPLITS]


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
    ax.legend(frameon=False)
    ax.margins(y=0.12)
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
    ax.legend(frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def plot_video_lengths(df):
    """Histogram of video lengths in seconds (``n_frames / fps``), one outline per split,
    on log-spaced bins (UCF-Crime spans seconds to an hour).

    Parameters
    ----------
    df : pandas.DataFrame
        An index (``split``, ``path``, ``n_frames`` and ``fps`` columns); one value per video.
    """
    import numpy as np

    videos = df.drop_duplicates("path")
    seconds = (videos["n_frames"] / videos["fps"]).to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    lo, hi = np.nanmin(seconds), np.nanmax(seconds)
    bins = np.geomspace(max(lo, 1e-2) * 0.95, hi * 1.05 if hi > lo else lo * 1.5 + 1, 30)
    for split in _split_order(videos):
        sel = videos["split"].astype(str).to_numpy() == split
        ax.hist(seconds[sel], bins=bins, histtype="step", linewidth=1.6,
                label=f"{split} ({int(sel.sum())} videos)")
    ax.set_xscale("log")
    ax.set_xlabel("video length (s)")
    ax.set_ylabel("videos")
    ax.set_title("Video lengths")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig

# --- extraction figures (02_extract) -------------------------------------------------------

# --- probe figures (03_probe) --------------------------------------------------------------
