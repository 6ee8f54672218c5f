"""Decode a video once, in order, handing out only the frames that clips need.

Frame numbers count decoded frames from 0, in presentation order, exactly as OpenCV's
``CAP_PROP_POS_FRAMES`` does; the seek-per-frame reference (:class:`ucf_nb.ClipDataset`)
and the sequential reader here therefore agree pixel for pixel. Decoding uses OpenCV's
FFmpeg backend: :func:`iter_video_frames` calls ``grab()`` (decode) for every frame and
``retrieve()`` (colour conversion) only for the frames asked for.

Files can lie: the frame count stored in a container may be wrong and a truncated file
stops decoding early. Nothing here trusts the container's count: the real end of a
video is where decoding stops, and a seek is trusted only when the decoder lands on the
frame that was asked for (otherwise the reader decodes forward from the start).

OpenCV seeks by time and then *derives* the frame number from the landed frame's
timestamp (``round((pts - first_pts) * time_base * fps)``), so its own check
(``CAP_PROP_POS_FRAMES`` after ``set``) agrees with itself even when it is wrong: on a file
whose timestamps are not one frame apart (variable frame rate, dropped frames, timestamp
gaps) a seek to frame 60 can land on decoded frame 62. A seek is therefore used only on
videos whose timestamps map onto 0, 1, 2, ... under that formula (:func:`seek_is_exact`,
which reads the packet timestamps with PyAV, no decoding, as torchcodec's ``exact`` mode
scans a file); any other video is decoded from its first frame.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = ["VideoError", "VideoInfo", "probe_video", "iter_video_frames", "read_frame",
           "open_video", "captured_stderr", "seek_is_exact"]

_COLORS = ("bgr", "rgb")


class VideoError(RuntimeError):
    """A video file cannot be opened or decoded. The message names the file."""

    def __init__(self, path: str | os.PathLike, reason: str, fix: str | None = None):
        self.path = str(path)
        self.reason = reason
        msg = f"cannot read video {self.path}: {reason}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


class VideoInfo(NamedTuple):
    """What :func:`probe_video` reports.

    fps : float
        Frames per second as stored in the container (0.0 when it stores none).
    n_frames : int
        The container's frame count, or the number of frames that really decode when
        ``count_frames=True``.
    width, height : int
        Frame size in pixels.
    """

    fps: float
    n_frames: int
    width: int
    height: int


def open_video(path: str | os.PathLike, *, decode_threads: int = 1):
    """Open ``path`` with OpenCV's FFmpeg backend or raise :class:`VideoError`.

    Parameters
    ----------
    path : path-like
        Used as given (callers resolve relative paths with :func:`ucf_nb.resolve_path`).
    decode_threads : int
        FFmpeg decoding threads; 0 lets FFmpeg choose. One thread per DataLoader worker
        avoids oversubscribing the CPU.

    Returns
    -------
    cv2.VideoCapture
        An opened capture; the caller releases it.
    """
    import cv2

    decode_threads = int(decode_threads)
    if decode_threads < 0:
        raise ValueError(f"decode_threads must be >= 0, got {decode_threads}")
    p = Path(path)
    if not p.exists():
        raise VideoError(p, "the file does not exist", "check the path, or pass video_root= "
                         "to point at the folder that holds the dataset")
    if p.is_dir():
        raise VideoError(p, "the path is a folder, not a video file")
    with captured_stderr() as log:  # FFmpeg/OpenCV print to fd 2: keep it for the reason
        cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, decode_threads])
        opened = cap.isOpened()
    if not opened:
        cap.release()
        said = log_summary(log)
        raise VideoError(p, "OpenCV/FFmpeg could not open it (not a video, truncated before "
                         "its header or index, or an unsupported codec"
                         + (f"; FFmpeg/OpenCV said: {said}" if said else "") + ")",
                         "re-download or re-encode the file, or extract with on_error='skip' to "
                         "record its clips as failed and go on")
    return cap


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Send this process's file descriptor 2 (where FFmpeg and OpenCV write their log lines,
    below Python) to a temporary file while the block runs.

    Yields a list that holds the captured text once the block has ended. Python's own
    ``sys.stderr`` is flushed first so nothing of it is lost. Nested uses are fine; uses in
    several threads take turns (file descriptor 2 belongs to the whole process).
    """
    with _STDERR_LOCK:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        with _fd2_to_tempfile() as out:
            yield out


# fd 2 is process-wide: captures in different threads must not interleave (re-entrant for nesting)
_STDERR_LOCK = threading.RLock()


@contextlib.contextmanager
def _fd2_to_tempfile() -> Iterator[list[str]]:
    out: list[str] = []
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield out
            finally:
                os.dup2(saved, 2)
                tmp.seek(0)
                out.append(tmp.read(1 << 16).decode("utf-8", errors="replace"))
    finally:
        os.close(saved)


class _Fd2Sink:
    """One temporary file that FFmpeg's per-frame log lines go to: :meth:`call` points fd 2
    at it around a single decoder call (a few microseconds, against a frame's decode time),
    so that nothing else the process prints meanwhile (a progress bar) is swallowed."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryFile()  # noqa: SIM115 (the sink's for its lifetime: close())

    def call(self, fn: Any, *args: Any) -> Any:
        with _STDERR_LOCK:
            saved = os.dup(2)
            os.dup2(self._tmp.fileno(), 2)
            try:
                return fn(*args)
            finally:
                os.dup2(saved, 2)
                os.close(saved)

    def close(self) -> None:
        self._tmp.close()


def log_summary(log: list[str], limit: int = 300) -> str:
    """The distinct lines of a :func:`captured_stderr` capture, ``"; "``-joined, shortened."""
    import re

    lines: list[str] = []
    for line in "".join(log).splitlines():
        # drop what changes from run to run: FFmpeg's context addresses, OpenCV's timestamps
        line = re.sub(r"\s*@\s*0x[0-9a-fA-F]+", "", line)
        line = re.sub(r"\[\s*(\w+):\d+@[\d.]+\]", r"[\1]", line).strip()
        if line and line not in lines:
            lines.append(line)
    text = "; ".join(lines)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def probe_video(path: str | os.PathLike, count_frames: bool = False) -> VideoInfo:
    """Read a video's frame rate, frame count and size.

    Parameters
    ----------
    path : path-like
        The video file.
    count_frames : bool
        When true, decode the whole file (``grab()`` only, no colour conversion) and report
        the number of frames that really decode instead of the container's claim. Slower
        (a full decode) but exact on files whose header lies.

    Returns
    -------
    VideoInfo
        ``(fps, n_frames, width, height)``.

    Raises
    ------
    VideoError
        When the file cannot be opened.
    """
    import cv2

    cap = open_video(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or fps < 0:
            fps = 0.0
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if count_frames:
            n = 0
            while cap.grab():
                n += 1
        else:
            raw = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            n = int(raw) if raw and math.isfinite(raw) and raw > 0 else 0
    finally:
        cap.release()
    return VideoInfo(fps, n, width, height)


def _packet_times(path: str) -> tuple[np.ndarray, float] | None:
    """Presentation timestamps of the first video stream's packets, sorted (one per frame),
    and the stream's time base in seconds; None when PyAV cannot read them all."""
    import av

    try:  # FFmpeg's complaints about a damaged file go to a temporary file, not the screen
        with captured_stderr(), av.open(path) as container:
            stream = container.streams.video[0]
            tb = float(stream.time_base)
            pts = []
            for pkt in container.demux(stream):
                if pkt.size == 0:  # the demuxer's flush packet
                    continue
                if pkt.is_discard:  # decoded as a reference, never shown
                    continue
                t = pkt.pts if pkt.pts is not None else pkt.dts
                if t is None:
                    return None
                pts.append(t)
    except Exception:  # noqa: BLE001 - unreadable timestamps: no seek is trusted, the reader decodes from frame 0
        return None
    return np.sort(np.asarray(pts, dtype=np.int64)), tb


@functools.lru_cache(maxsize=256)
def _seek_is_exact_cached(path: str, size: int, mtime_ns: int, fps: float) -> bool:
    got = _packet_times(path)
    if got is None:
        return False
    pts, tb = got
    if len(pts) == 0 or not (math.isfinite(fps) and fps > 0):
        return False
    # OpenCV's frame number of each frame, from its timestamp (cap_ffmpeg_impl.hpp,
    # dts_to_frame_number minus first_frame_number): it must be the decode order
    number = np.rint((pts - pts[0]) * tb * fps).astype(np.int64)
    return bool(np.array_equal(number, np.arange(len(pts), dtype=np.int64)))


def seek_is_exact(path: str | os.PathLike, fps: float | None = None) -> bool:
    """Whether OpenCV's seek to frame ``k`` of ``path`` lands on the ``k``-th decoded frame.

    True when the video's packet timestamps, sorted, map onto ``0, 1, 2, ...`` under the
    formula OpenCV numbers a landed frame with (``round((pts - first_pts) * time_base *
    fps)``): constant frame rate without gaps. False for variable frame rate, dropped
    frames or timestamp gaps (a seek there lands frames away from where it says), and when
    the timestamps cannot be read. Reads packets only (no decoding); the answer is cached per
    file (path, size, modification time) in this process.

    Cost: the packet scan reads the file but decodes nothing. On a 10-minute 320x240 H.264
    video shaped as UCF-Crime's (18,000 frames, 11 MB) it took 0.05 s against 3.1 s for
    decoding every frame (``grab()`` only, one thread): 1/60 of a decode
    (``benchmarks/bench_seek_scan.py``, 2-core Xeon, 2026-11-26). All of UCF-Crime (~1,900
    videos, ~128 hours, ~14 M frames) would scan in about 40 s on that machine, against
    about 40 min of decoding on one core; :class:`ucf_nb.VideoClipStream` scans only the
    videos it would seek in (more than ``segment_clips`` clips, or a first clip past frame 0),
    once each, when it plans its segments.

    Parameters
    ----------
    path : path-like
        The video file.
    fps : float, optional
        The frame rate OpenCV reports for it (``CAP_PROP_FPS``); read from the file when None.

    Returns
    -------
    bool
        False also when PyAV is not installed: a ``RuntimeWarning`` says so (Python's default
        warning filter shows it once per calling line), and readers decode from the first
        frame, which is always right but slower.

    Raises
    ------
    VideoError
        When ``fps`` is None and the file cannot be opened.
    OSError
        When the file cannot be read.
    """
    try:
        import av  # noqa: F401
    except ImportError:
        import warnings

        warnings.warn("PyAV is not installed, so OpenCV's seeks cannot be checked against the videos' "
                      "timestamps: videos are decoded from their first frame (right, but slower); "
                      "pip install av", RuntimeWarning, stacklevel=2)
        return False
    p = Path(path)
    if fps is None:
        fps = probe_video(p).fps
    st = p.stat()
    return _seek_is_exact_cached(str(p), int(st.st_size), int(st.st_mtime_ns), float(fps))


class DecodeState:
    """Filled in by :func:`decode_frames`: where the video really ended, if decoding reached it."""

    __slots__ = ("n_decoded", "seeked")

    def __init__(self) -> None:
        self.n_decoded: int | None = None  # real frame count once the end was reached
        self.seeked = False


def _seek(cap, frame: int) -> bool:
    """Seek ``cap`` so that the next grab returns ``frame``; True only if verified."""
    import cv2

    cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
    return int(cap.get(cv2.CAP_PROP_POS_FRAMES)) == frame


def decode_frames(path: Path, wanted: np.ndarray, *, color: str, decode_threads: int,
            state: DecodeState, seek: bool | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Core sequential reader; see :func:`iter_video_frames`. ``wanted`` sorted, unique.

    ``seek``: True, start with a verified seek to ``wanted[0]`` (the caller found the file
    seek-exact, e.g. :class:`ucf_nb.VideoClipStream`'s plan); False, decode from frame 0;
    None, seek only when :func:`seek_is_exact` says so (checked here)."""
    import cv2

    if len(wanted) == 0:
        return
    cap = open_video(path, decode_threads=decode_threads)
    sink = _Fd2Sink()  # FFmpeg's complaints about a damaged stream never reach the user's screen
    try:
        first = int(wanted[0])
        k = 0
        if seek is None and first > 0:
            seek = seek_is_exact(path, float(cap.get(cv2.CAP_PROP_FPS) or 0.0))
        if seek and first > 0:
            if sink.call(_seek, cap, first):
                k = first
                state.seeked = True
            else:  # the decoder did not land on the frame asked for: start over
                cap.release()
                cap = None
                cap = open_video(path, decode_threads=decode_threads)
        start = k
        last = int(wanted[-1])
        j = 0
        while k <= last:
            if not sink.call(cap.grab):
                break
            if k == wanted[j]:
                ok, frame = sink.call(cap.retrieve)
                if not ok or frame is None:
                    break  # a frame that decodes but cannot be converted ends the video
                if color == "rgb":
                    frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                yield k, frame
                j += 1
            k += 1
        else:
            return  # every wanted frame was reached
        # the decoder stopped before the last wanted frame: k is the real frame count,
        # unless a seek landed past the real end (nothing decoded after it)
        if state.seeked and k == start:
            cap.release()
            cap = None
            state.seeked = False
            yield from decode_frames(path, wanted, color=color, decode_threads=decode_threads,
                               state=state, seek=False)
            return
        state.n_decoded = k
    finally:
        if cap is not None:
            cap.release()
        sink.close()


def _wanted_array(frames: Iterable[int] | None, path) -> np.ndarray | None:
    if frames is None:
        return None
    arr = np.asarray(list(frames) if not isinstance(frames, np.ndarray) else frames)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"frames for {path} must be a 1-D sequence of integer frame numbers, "
                         f"got dtype {arr.dtype} with shape {arr.shape}")
    if arr.min() < 0:
        raise ValueError(f"frame numbers for {path} must be >= 0, got {int(arr.min())}")
    return np.unique(arr.astype(np.int64))


def iter_video_frames(path: str | os.PathLike, frames: Iterable[int] | None = None, *,
                      color: str = "rgb", decode_threads: int = 1,
                      seek: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """Decode ``path`` once, in order, yielding the frames asked for.

    Every frame from the first wanted one on is decoded (``grab()``); only the wanted ones
    are colour-converted (``retrieve()``). When ``seek`` is true and the first wanted frame
    is not 0, the reader first seeks to it and checks that the decoder landed there (if it
    did not, it decodes from the start instead), so the result never depends on the seek.

    Parameters
    ----------
    path : path-like
        The video file (used as given).
    frames : iterable of int, optional
        Frame numbers wanted (0-based, any order, duplicates ignored). None: every frame.
    color : {"rgb", "bgr"}
        Channel order of the yielded frames (OpenCV decodes to BGR).
    decode_threads : int
        FFmpeg decoding threads (0: FFmpeg chooses).
    seek : bool
        Allow a verified seek to the first wanted frame, on a file whose seeks are exact
        (:func:`seek_is_exact`); any other file is decoded from its first frame.

    Yields
    ------
    (int, numpy.ndarray)
        Frame number and the frame, uint8 (H, W, 3), in increasing frame order. Frames past
        the video's real end are not yielded: the iteration simply stops there.

    Raises
    ------
    VideoError
        When the file cannot be opened (raised on the first ``next()``).
    """
    if color not in _COLORS:
        raise ValueError(f"color must be one of {_COLORS}, got {color!r}")
    wanted = _wanted_array(frames, path)
    if wanted is None:
        return _iter_all(Path(path), color=color, decode_threads=decode_threads)
    return decode_frames(Path(path), wanted, color=color, decode_threads=decode_threads,
                   state=DecodeState(), seek=None if seek else False)


def _iter_all(path: Path, *, color: str, decode_threads: int) -> Iterator[tuple[int, np.ndarray]]:
    import cv2

    cap = open_video(path, decode_threads=decode_threads)
    sink = _Fd2Sink()
    try:
        k = 0
        while True:
            ok, frame = sink.call(cap.read)
            if not ok or frame is None:
                return
            if color == "rgb":
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            yield k, frame
            k += 1
    finally:
        cap.release()
        sink.close()


def read_frame(path: str | os.PathLike, frame: int, *, color: str = "rgb",
               decode_threads: int = 1) -> np.ndarray | None:
    """Read one frame by number (verified seek, else decode from the start).

    Returns
    -------
    numpy.ndarray or None
        uint8 (H, W, 3), or None when the video has no such frame.
    """
    for _, arr in iter_video_frames(path, [int(frame)], color=color,
                                    decode_threads=decode_threads):
        return arr
    return None
