"""What failed in a finished split, shown: the NaN clips of an extraction grouped by video,
with each video's reason and the fix (:func:`extraction_failures`).
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
    """

    split: str
    n_clips: int
    n_failed: int
    videos: Any

    FIX: ClassVar[str] = ("these clips are stored as NaN rows and every later step (notebook 03's probe "
                          "included) leaves them out and counts them; to embed them, replace or re-encode "
                          "the files and run the same command again (extract_split or notebook 02: the "
                          "launcher submits nothing for a finished split), which decodes and embeds only "
                          "the failed clips and leaves every other row as it is")

    def __bool__(self) -> bool:
        return self.n_failed > 0

    def message(self) -> str:
        if not self.n_failed:
            return f"No clip of split {self.split!r} failed: all {self.n_clips} clips have embeddings."
        per_video = "; ".join(f"{r.video} ({r.failed_clips} clips): {r.reason}" for r in self.videos.itertuples())
        return (f"{self.n_failed} of {self.n_clips} clips of split {self.split!r} failed, from "
                f"{len(self.videos)} video(s): {per_video}. Fix: {self.FIX}.")

    def __str__(self) -> str:
        return self.message()

    def __repr__(self) -> str:
        return self.message()

    def _repr_html_(self) -> str:
        import html

        if not self.n_failed:
            return f"<p>{html.escape(self.message())}</p>"
        items = "".join(f"<li><code>{html.escape(str(r.video))}</code> ({r.failed_clips} clips): "
                        f"{html.escape(str(r.reason))}</li>" for r in self.videos.itertuples())
        return ('<div class="admonition warning"><p class="admonition-title">Warning: failed clips</p>'
                f"<p><b>{self.n_failed} of {self.n_clips} clips of split {html.escape(repr(self.split))} failed</b>, "
                f"from {len(self.videos)} video(s):</p><ul>{items}</ul>"
                f"<p>Fix: {html.escape(self.FIX)}.</p></div>")


def extraction_failures(out_dir: str | os.PathLike = "processed", split: str = "train", *,
                        index_path: str | os.PathLike | None = None) -> ExtractionFailures:
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

    entry = (read_manifest(out_dir).get("splits") or {}).get(split) or {}
    _, _, rows = load_embeddings(out_dir, split, index_path=index_path)
    failed = entry.get("failed_clips") or []
    recs = []
    for f in failed:
        r = int(f["row"])
        path = rows.loc[r, "path"] if r in rows.index else "?"
        video = rows.loc[r, "video"] if r in rows.index and "video" in rows.columns else os.path.basename(str(path))
        recs.append({"video": str(video), "path": display_path(resolve_path(path)) if path != "?" else path,
                     "reason": str(f.get("error") or "unreadable video")})
    df = pd.DataFrame(recs, columns=["video", "path", "reason"])
    if len(df):
        videos = (df.groupby(["video", "path"], sort=False)
                  .agg(failed_clips=("reason", "size"), reason=("reason", "first")).reset_index())
    else:
        videos = pd.DataFrame(columns=["video", "path", "failed_clips", "reason"])
    return ExtractionFailures(split=split, n_clips=int(entry.get("n_clips", len(rows))), n_failed=len(failed),
                              videos=videos)
