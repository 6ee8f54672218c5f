"""How many frames a video really has: the count the clip index is built on.

A container states a frame count (MP4's sample table, AVI's ``avih``/``strh`` headers), and
that count can lie: an AVI whose header says 60 frames can hold 96, a truncated file lists
frames whose bytes are gone, an edit list hides frames the sample table counts. An index
built on such a count drops real frames or promises clips that do not exist.

:func:`count_video_frames` counts what decodes, cheaply where it can:

1. PyAV reads the container's packets (no decoding: about 1/60 of a decode) and the
   container's claim. Which demuxer read the file (``avi``, ``mov,mp4,...``, ``matroska``)
   is judged from its content, as FFmpeg probes it, never from the file name.
2. In a container that stores one packet per frame (:data:`PACKET_FORMATS`) whose claim
   agrees with its packet count (or that makes no claim), the packet count is the frame
   count.
3. Otherwise (another container, a claim that disagrees with the packets, packets PyAV
   cannot read) the frames are counted by decoding the whole file with OpenCV, as the
   extraction reads it.

:func:`frame_count_report` shows, for a built index, which videos' containers disagreed with
what decodes (:func:`ucf_nb.build_index` writes ``<index>.frame_counts.csv``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..paths import display_path, resolve_path
from ..video.decode import Fd2Sink, open_video

__all__ = ["FrameCount", "count_video_frames", "frame_counts_path", "FrameCountReport", "frame_count_report"]

PACKET_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "avi"})
"""FFmpeg demuxer names (any part of PyAV's ``container.format.name``, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``)
whose packets are whole frames: their packet count is trusted when the container's own count agrees
with it. Raw or transport streams (``h264``, ``mpegts``, ``mpeg``...) are always decoded to count."""

REPORT_COLUMNS = ["video", "path", "container", "header_frames", "packets", "decoded", "n_frames", "method"]
"""Columns of ``<index>.frame_counts.csv``: one row per indexed video; ``header_frames`` the
container's claim (empty: it makes none), ``packets`` the video packets PyAV read (empty: not
readable), ``decoded`` the frames OpenCV decoded (empty: not decoded), ``n_frames`` the count
the index uses and ``method`` how it was found (``"packets"`` or ``"decoded"``)."""


@dataclass(frozen=True)
class FrameCount:
    """What :func:`count_video_frames` found for one video.

    Attributes
    ----------
    n_frames : int
        Frames that decode: the count the index uses.
    header : int or None
        The container's own frame count; None when it stores none.
    packets : int or None
        Video packets in the file (PyAV, no decoding; discarded and empty packets not
        counted); None when PyAV could not read them.
    decoded : int or None
        Frames OpenCV decoded, when the count was settled by decoding; else None.
    container : str
        The demuxer FFmpeg chose from the file's content (PyAV's ``format.name``); ``""``
        when PyAV could not open it.
    method : {"packets", "decoded"}
        How ``n_frames`` was found.
    """

    n_frames: int
    header: int | None
    packets: int | None
    decoded: int | None
    container: str
    method: str

    @property
    def header_disagrees(self) -> bool:
        """True when the container states a frame count other than the frames that decode."""
        return self.header is not None and self.header != self.n_frames


def _scan_packets(path: str) -> tuple[str, int | None, int] | None:
    """(container format name, the container's frame count or None, video packets) read with
    PyAV without decoding; None when PyAV is missing or cannot read the file to its end."""
    try:
        import av
    except ImportError:
        return None
    try:  # PyAV keeps FFmpeg's log off the screen by default: nothing to silence here
        with av.open(path) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            header = int(stream.frames or 0) or None
            n = 0
            for pkt in container.demux(stream):
                if pkt.size == 0 or pkt.is_discard:  # the flush packet; edit-list frames never shown
                    continue
                n += 1
            return str(container.format.name or ""), header, n
    except Exception:  # noqa: BLE001 - an unreadable container: the count is settled by decoding
        return None


def _decode_count(path: Path) -> int:
    """Frames OpenCV decodes from ``path`` (``grab()`` only, FFmpeg's complaints kept off the
    screen). Raises :class:`ucf_nb.VideoError` when the file cannot be opened."""
    cap = open_video(path)
    sink = Fd2Sink()
    try:
        n = 0
        while sink.call(cap.grab):
            n += 1
    finally:
        cap.release()
        sink.close()
    return n


def _trusted(container: str) -> bool:
    return bool(PACKET_FORMATS & {part.strip() for part in container.split(",")})


def count_video_frames(path: str | os.PathLike, *, decode: bool = False) -> FrameCount:
    """Count the frames of one video that really decode (see the module's description).

    Parameters
    ----------
    path : path-like
        The video file (used as given).
    decode : bool
        Always count by decoding the whole file (slow: reads and decodes all of it), whatever
        the container.

    Returns
    -------
    FrameCount

    Raises
    ------
    ucf_nb.VideoError
        When the count has to be settled by decoding and OpenCV cannot open the file.
    """
    p = Path(path)
    scan = _scan_packets(str(p))
    container, header, packets = scan if scan is not None else ("", None, None)
    if not decode and scan is not None and packets and _trusted(container) and header in (None, packets):
        return FrameCount(
            n_frames=int(packets), header=header, packets=packets, decoded=None, container=container, method="packets"
        )
    decoded = _decode_count(p)
    return FrameCount(
        n_frames=decoded, header=header, packets=packets, decoded=decoded, container=container, method="decoded"
    )


def frame_counts_path(index_path: str | os.PathLike) -> Path:
    """Where :func:`ucf_nb.build_index` writes its frame counts: ``<index>.frame_counts.csv``."""
    p = resolve_path(index_path)
    return p.with_name(p.stem + ".frame_counts.csv")


@dataclass
class FrameCountReport:
    """The frame counts of an index's videos, and which containers disagreed with them.

    Made by :func:`frame_count_report`. Shown in a notebook it is a warning block with a table
    of the videos whose container's count disagrees with what decodes (or one line saying
    that none did); ``str()`` gives the same as plain text.

    Attributes
    ----------
    videos : pandas.DataFrame or None
        One row per indexed video (:data:`REPORT_COLUMNS`); None when the index has no
        frame-count file (built before this report existed, or by hand).
    source : str
        The frame-count file, as displayed.
    """

    videos: Any
    source: str

    @property
    def disagreeing(self) -> Any:
        """The videos whose container states a frame count other than the frames that decode:
        ``video``, ``container``, ``header_frames``, ``n_frames`` (what the index uses), ``difference``."""
        import pandas as pd

        cols = ["video", "container", "header_frames", "n_frames", "difference"]
        if self.videos is None or not len(self.videos):
            return pd.DataFrame(columns=cols)
        v = self.videos
        bad = v["header_frames"].notna() & (v["header_frames"] != v["n_frames"])
        out = v.loc[bad, ["video", "container", "header_frames", "n_frames"]].copy()
        out["header_frames"] = out["header_frames"].astype("int64")
        out["difference"] = out["n_frames"] - out["header_frames"]
        return out.reset_index(drop=True)

    def __bool__(self) -> bool:
        return len(self.disagreeing) > 0

    def message(self) -> str:
        if self.videos is None:
            return (
                f"No frame-count report at {self.source}: the index was built by hand or by an older "
                "ucf-nb; rebuild it with notebooks/00_build_index.ipynb to check the containers' frame counts."
            )
        n = len(self.videos)
        by = self.videos["method"].value_counts()
        how = f"{int(by.get('packets', 0))} counted from their packets, {int(by.get('decoded', 0))} by decoding"
        bad = self.disagreeing
        if not len(bad):
            return (
                f"All {n} videos' containers state the number of frames that decode, or none ({how}); "
                "the index uses the frames that decode."
            )
        each = "; ".join(
            f"{r.video}: the container says {r.header_frames}, {r.n_frames} decode" for r in bad.itertuples()
        )
        return (
            f"{len(bad)} of {n} videos have a container whose frame count disagrees with the frames that "
            f"decode ({each}). The index uses the frames that decode ({how}); nothing needs fixing for "
            "ucf-nb, but other tools that trust the header will miscount these files: re-muxing them "
            "(e.g. ffmpeg -i in -c copy out) rewrites the header."
        )

    def __str__(self) -> str:
        return self.message()

    def __repr__(self) -> str:
        return self.message()

    def _repr_html_(self) -> str:
        import html

        bad = self.disagreeing
        if not len(bad):
            return f"<p>{html.escape(self.message())}</p>"
        return (
            '<div class="admonition warning"><p class="admonition-title">Warning: container frame counts '
            f"that lie</p><p><b>{len(bad)} of {len(self.videos)} videos</b> have a container whose frame "
            "count disagrees with the frames that decode; the index uses the frames that decode "
            "(column <code>n_frames</code>).</p>" + bad.to_html(index=False) + "</div>"
        )


def frame_count_report(index_path: str | os.PathLike = "processed/index_clips.csv") -> FrameCountReport:
    """The frame counts :func:`ucf_nb.build_index` found for an index's videos.

    Parameters
    ----------
    index_path : str or path-like
        The index CSV (relative: against the project root); its ``<index>.frame_counts.csv``
        is read.

    Returns
    -------
    FrameCountReport
        ``videos`` is None when there is no frame-count file next to the index.
    """
    import pandas as pd

    path = frame_counts_path(index_path)
    if not path.is_file():
        return FrameCountReport(videos=None, source=display_path(path))
    df = pd.read_csv(path, dtype={"video": str, "path": str, "container": str, "method": str}, keep_default_na=True)
    absent = [c for c in REPORT_COLUMNS if c not in df.columns]
    if absent:
        raise ValueError(
            f"{display_path(path)} is not a frame-count report: it lacks the columns {absent} "
            "(rebuild the index with notebooks/00_build_index.ipynb)"
        )
    for c in ("header_frames", "packets", "decoded"):
        df[c] = df[c].astype("Int64")
    df["container"] = df["container"].fillna("")
    return FrameCountReport(videos=df, source=display_path(path))
