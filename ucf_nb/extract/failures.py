"""What failed in a finished split, shown: the NaN clips of an extraction grouped by video,
with each video's reason and the fix, and the short clips (the video ended before the clip
did: its last real frame repeated), with how many real frames they had
(:func:`extraction_failures`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

from ..paths import display_path, resolve_path
from ..store.arrays import load_embeddings
from ..store.manifest import read_manifest

__all__ = ["extraction_failures", "ExtractionFailures"]


@dataclass
class ExtractionFailures:
    """The clips of a finished split that failed (NaN rows), grouped by video.

    Made by :func:`extraction_failures`. Shown in a notebook it is a warning block (or one
    line saying that nothing failed); ``str()`` gives the same as plain text.

    Attributes
    ----------
    split : str
    n_clips : int
        Clips in the split.
    n_failed : int
        Failed clips (NaN rows of ``emb_{split}.npy``, status 2).
    videos : pandas.DataFrame
        One row per video with failed clips: ``video``, ``path``, ``failed_clips``, ``reason``.
    n_short : int
        Short clips: embedded, but the video ended before the clip did, so its last real
        frame fills the clip's remaining sampled positions (the manifest's ``short_clips``).
    short_videos : pandas.DataFrame
        One row per video with short clips: ``video``, ``path``, ``short_clips``,
        ``real_frames`` (the fewest and most real sampled frames of its short clips, of
        ``T``, e.g. ``"3-6 of 8"``), ``index_n_frames`` (the frames the index expects).
    """

    split: str
    n_clips: int
    n_failed: int
    videos: Any
    n_short: int = 0
    short_videos: Any = None

    SHORT_FIX: ClassVar[str] = (
        "these clips are embedded from fewer real frames than the clip has (the video "
        "ends before the index says it does: a file cut short or replaced, an edit list, "
        "a header that overstates the frames); if the file is damaged, put the whole file "
        "back and run the same command again, which embeds the clips of these videos "
        "again and leaves every other row as it is; if the file is right, rebuild the "
        "index with notebooks/00_build_index.ipynb, which counts the frames that decode"
    )

    FIX: ClassVar[str] = (
        "these clips are stored as NaN rows and every later step (notebook 03's probe "
        "included) leaves them out and counts them; to embed them, replace or re-encode "
        "the files and run the same command again (extract_split or notebook 02: the "
        "launcher submits nothing for a finished split), which decodes and embeds again "
        "only the clips of these videos and leaves every other row as it is"
    )

    def __bool__(self) -> bool:
        return self.n_failed > 0 or self.n_short > 0

    def _short_message(self) -> str:
        per_video = "; ".join(
            f"{r.video} ({r.short_clips} clips, {r.real_frames} sampled frames real; the index "
            f"expects {r.index_n_frames} frames)"
            for r in self.short_videos.itertuples()
        )
        return (
            f"{self.n_short} of {self.n_clips} clips of split {self.split!r} are short, from "
            f"{len(self.short_videos)} video(s): {per_video}. Fix: {self.SHORT_FIX}."
        )

    def message(self) -> str:
        if not self.n_failed and not self.n_short:
            return f"No clip of split {self.split!r} failed: all {self.n_clips} clips have embeddings."
        parts = []
        if self.n_failed:
            per_video = "; ".join(f"{r.video} ({r.failed_clips} clips): {r.reason}" for r in self.videos.itertuples())
            parts.append(
                f"{self.n_failed} of {self.n_clips} clips of split {self.split!r} failed, from "
                f"{len(self.videos)} video(s): {per_video}. Fix: {self.FIX}."
            )
        if self.n_short:
            parts.append(self._short_message())
        return " ".join(parts)

    def __str__(self) -> str:
        return self.message()

    def __repr__(self) -> str:
        return self.message()

    def _repr_html_(self) -> str:
        import html

        if not self.n_failed and not self.n_short:
            return f"<p>{html.escape(self.message())}</p>"
        blocks = []
        if self.n_failed:
            items = "".join(
                f"<li><code>{html.escape(str(r.video))}</code> ({r.failed_clips} clips): "
                f"{html.escape(str(r.reason))}</li>"
                for r in self.videos.itertuples()
            )
            blocks.append(
                '<div class="admonition warning"><p class="admonition-title">Warning: failed clips</p>'
                f"<p><b>{self.n_failed} of {self.n_clips} clips of split {html.escape(repr(self.split))} "
                f"failed</b>, from {len(self.videos)} video(s):</p><ul>{items}</ul>"
                f"<p>Fix: {html.escape(self.FIX)}.</p></div>"
            )
        if self.n_short:
            items = "".join(
                f"<li><code>{html.escape(str(r.video))}</code> ({r.short_clips} clips, "
                f"{html.escape(str(r.real_frames))} sampled frames real; the index expects "
                f"{r.index_n_frames} frames)</li>"
                for r in self.short_videos.itertuples()
            )
            blocks.append(
                '<div class="admonition warning"><p class="admonition-title">Warning: short clips</p>'
                f"<p><b>{self.n_short} of {self.n_clips} clips of split {html.escape(repr(self.split))} "
                f"are short</b> (the video ended before the clip did; its last real frame fills the "
                f"rest), from {len(self.short_videos)} video(s):</p><ul>{items}</ul>"
                f"<p>Fix: {html.escape(self.SHORT_FIX)}.</p></div>"
            )
        return "".join(blocks)


def extraction_failures(
    out_dir: str | os.PathLike = "processed", split: str = "train", *, index_path: str | os.PathLike | None = None
) -> ExtractionFailures:
    """The failed clips of a finished split, grouped by video, with each video's reason.

    Parameters
    ----------
    out_dir : str or path-like
        The ``out_dir`` of :func:`extract_split` (or its ``manifest.json``).
    split : str
    index_path : str or path-like, optional
        The index the embeddings came from (default: the one in the manifest).

    Returns
    -------
    ExtractionFailures
    """
    import pandas as pd

    manifest = read_manifest(out_dir)
    entry = (manifest.get("splits") or {}).get(split) or {}
    _, _, rows = load_embeddings(out_dir, split, index_path=index_path)
    failed = entry.get("failed_clips") or []
    recs = []
    for f in failed:
        r = int(f["row"])
        path = rows.loc[r, "path"] if r in rows.index else "?"
        video = rows.loc[r, "video"] if r in rows.index and "video" in rows.columns else os.path.basename(str(path))
        recs.append(
            {
                "video": str(video),
                "path": display_path(resolve_path(path)) if path != "?" else path,
                "reason": str(f.get("error") or "unreadable video"),
            }
        )
    df = pd.DataFrame(recs, columns=["video", "path", "reason"])
    if len(df):
        videos = (
            df.groupby(["video", "path"], sort=False)
            .agg(failed_clips=("reason", "size"), reason=("reason", "first"))
            .reset_index()
        )
    else:
        videos = pd.DataFrame(columns=["video", "path", "failed_clips", "reason"])
    short = entry.get("short_clips") or []
    return ExtractionFailures(
        split=split,
        n_clips=int(entry.get("n_clips", len(rows))),
        n_failed=len(failed),
        videos=videos,
        n_short=len(short),
        short_videos=_short_videos(short, rows, manifest.get("T")),
    )


def _short_videos(short: list, rows: Any, T: Any) -> Any:
    """One row per video with short clips (see :attr:`ExtractionFailures.short_videos`)."""
    import pandas as pd

    cols = ["video", "path", "short_clips", "real_frames", "index_n_frames"]
    recs = []
    for c in short:
        r = int(c["row"])
        if r not in rows.index:
            continue
        path = rows.loc[r, "path"]
        video = rows.loc[r, "video"] if "video" in rows.columns else os.path.basename(str(path))
        recs.append(
            {
                "video": str(video),
                "path": display_path(resolve_path(path)),
                "n_real": int(c["n_real"]),
                "index_n_frames": int(rows.loc[r, "n_frames"]),
            }
        )
    if not recs:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(recs)
    of = f" of {int(T)}" if T is not None else ""
    out = (
        df.groupby(["video", "path"], sort=False)
        .agg(
            short_clips=("n_real", "size"),
            lo=("n_real", "min"),
            hi=("n_real", "max"),
            index_n_frames=("index_n_frames", "first"),
        )
        .reset_index()
    )
    out["real_frames"] = [(f"{a}" if a == b else f"{a}-{b}") + of for a, b in zip(out["lo"], out["hi"])]
    return out[cols]
