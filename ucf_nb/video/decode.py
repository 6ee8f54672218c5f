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

On such a seek-exact H.264 file the stream's reader (:func:`decode_frames` with a
:class:`FrameNumbering`) decodes with PyAV instead, numbering each frame from its timestamp
with the same formula, and tells the decoder to skip the non-reference frames that no clip
samples (``skip_frame="NONREF"``, set per packet): nothing references them, so every other
frame decodes to the same pixels. PyAV's BGR conversion is used only where it was checked,
once per process and frame format, to equal OpenCV's on the file's first frame
(:func:`_pyav_converts_like_opencv`); anything the skipping reader cannot do (another codec
or pixel format, a damaged packet, a frame that does not come out) is left to OpenCV's
reader, which goes on from the next wanted frame.

Log lines: FFmpeg prints its complaints about damaged streams on file descriptor 2. While a
reader decodes, the log level of OpenCV's FFmpeg is set to quiet (:class:`_QuietDecoders`,
through ``av_log_set_level`` of the ``libavutil`` OpenCV loaded) and OpenCV's own level to
errors; opening a file still logs, into a temporary file, so that a file that cannot be
opened says why (:func:`open_video`). PyAV's FFmpeg logs nothing unless its user asks
(``av.logging``). Where OpenCV's ``libavutil`` cannot be found, every decoder call is wrapped
in a redirect of file descriptor 2 instead (never held across a ``yield``).
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

from ..checks import UcfNbError, check_int, printable_path, utf8_path_problem

__all__ = [
    "VideoError",
    "VideoInfo",
    "probe_video",
    "iter_video_frames",
    "read_frame",
    "open_video",
    "captured_stderr",
    "seek_is_exact",
]

_COLORS = ("bgr", "rgb")


class VideoError(UcfNbError, RuntimeError):
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

    decode_threads = check_int("decode_threads", decode_threads, 0)
    p = Path(path)

    if utf8_path_problem(p):  # OpenCV would crash the process (a segfault) on such a path
        raise VideoError(
            printable_path(p),
            "a byte of its path is not UTF-8, which OpenCV cannot open",
            "rename the file or its folders in UTF-8",
        )
    if not p.exists():
        raise VideoError(
            p,
            "the file does not exist",
            "check the path, or pass video_root= to point at the folder that holds the dataset",
        )
    if p.is_dir():
        raise VideoError(p, "the path is a folder, not a video file")
    # FFmpeg/OpenCV print to fd 2: keep it for the reason, at their usual levels
    with captured_stderr() as log, _QUIET.paused():
        cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, decode_threads])
        opened = cap.isOpened()
    if not opened:
        cap.release()
        said = log_summary(log)
        raise VideoError(
            p,
            "OpenCV/FFmpeg could not open it (not a video, truncated before "
            "its header or index, or an unsupported codec" + (f"; FFmpeg/OpenCV said: {said}" if said else "") + ")",
            "re-download or re-encode the file",
        )
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


class Fd2Sink:
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


class _NoSink:
    """:class:`Fd2Sink`'s interface without a redirect: decoder calls run as they are (the
    decoders' log levels keep their lines off the screen, see :class:`_QuietDecoders`)."""

    @staticmethod
    def call(fn: Any, *args: Any) -> Any:
        return fn(*args)

    def close(self) -> None:
        pass


_AV_LOG_QUIET = -8


_AV_LOG_FUNCS: list[tuple[Any, Any]] = []  # found once, kept for the process


def _opencv_av_log() -> tuple[Any, Any] | None:
    """``(av_log_get_level, av_log_set_level)`` of the ``libavutil`` that OpenCV's FFmpeg
    backend loaded, or None where it cannot be told apart (not Linux, OpenCV without
    FFmpeg, several candidates): the caller then redirects file descriptor 2 per call.

    OpenCV reads its FFmpeg log level (``OPENCV_FFMPEG_LOGLEVEL``) once per process, so the
    level is set here, on the library itself. PyAV's own ``libavutil`` (in ``av.libs``) is
    left alone. Only a success is remembered (a build that loads FFmpeg later is looked at
    again)."""
    if _AV_LOG_FUNCS:
        return _AV_LOG_FUNCS[0]
    import ctypes

    import cv2  # noqa: F401 - loads OpenCV's libraries

    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return None
    found = set()
    for line in maps.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and "libavutil" in Path(parts[5]).name:
            found.add(parts[5])
    mine = [f for f in found if f"{os.sep}av.libs{os.sep}" not in f]  # PyAV's bundled copy
    if len(mine) != 1:
        return None
    try:
        lib = ctypes.CDLL(mine[0])
        get, put = lib.av_log_get_level, lib.av_log_set_level
    except (OSError, AttributeError):
        return None
    get.restype, get.argtypes = ctypes.c_int, []
    put.restype, put.argtypes = None, [ctypes.c_int]
    _AV_LOG_FUNCS.append((get, put))
    return _AV_LOG_FUNCS[0]


class _QuietDecoders:
    """Keeps OpenCV's FFmpeg log quiet and OpenCV's own log at errors while at least one of
    this module's readers is decoding (re-entrant, thread-safe); both levels come back when
    the last one ends. :meth:`paused` gives them back for a block (opening a file, whose
    complaints :func:`open_video` captures into its error)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._saved: tuple[int, int] | None = None

    def available(self) -> bool:
        return _opencv_av_log() is not None

    def sink(self) -> Fd2Sink | _NoSink:
        """What a reader wraps its decoder calls in: nothing when the levels can be set,
        else a per-call redirect of file descriptor 2."""
        return _NoSink() if self.available() else Fd2Sink()

    def _quiet(self) -> None:
        import cv2

        funcs = _opencv_av_log()
        assert funcs is not None  # quiet only where available() found them
        get, put = funcs
        self._saved = (get(), cv2.utils.logging.getLogLevel())
        put(_AV_LOG_QUIET)
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    def _restore(self) -> None:
        import cv2

        funcs = _opencv_av_log()
        assert funcs is not None  # restored only where available() found them
        _, put = funcs
        if self._saved is not None:
            put(self._saved[0])
            cv2.utils.logging.setLogLevel(self._saved[1])
            self._saved = None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        if not self.available():
            yield
            return
        with self._lock:
            if self._depth == 0:
                self._quiet()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._restore()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        if not self.available():
            yield
            return
        with self._lock:  # held for the block: no reader starts or ends meanwhile
            was = self._depth > 0
            if was:
                self._restore()
            try:
                yield
            finally:
                if was:
                    self._quiet()


_QUIET = _QuietDecoders()


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
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
def _seek_is_exact_cached(path: str, size: int, mtime_ns: int, fps: float) -> FrameNumbering | None:
    got = _packet_times(path)
    if got is None:
        return None
    pts, tb = got
    if len(pts) == 0 or not (math.isfinite(fps) and fps > 0):
        return None
    # OpenCV's frame number of each frame, from its timestamp (cap_ffmpeg_impl.hpp,
    # dts_to_frame_number minus first_frame_number): it must be the decode order
    number = np.rint((pts - pts[0]) * tb * fps).astype(np.int64)
    if not np.array_equal(number, np.arange(len(pts), dtype=np.int64)):
        return None
    return FrameNumbering(int(pts[0]), tb, fps)


class FrameNumbering(NamedTuple):
    """How a seek-exact video's timestamps give frame numbers: frame
    ``round((pts - first_pts) * time_base * fps)`` (OpenCV's formula, which
    :func:`seek_is_exact` checked to give 0, 1, 2, ... in order).

    first_pts : int
        The smallest presentation timestamp of the video stream, in ``time_base`` units.
    time_base : float
        Seconds per timestamp unit.
    fps : float
        The frame rate OpenCV reports (``CAP_PROP_FPS``).
    """

    first_pts: int
    time_base: float
    fps: float

    def number(self, pts: int) -> int:
        """Frame number of the frame or packet with presentation timestamp ``pts``."""
        # Python's round, like np.rint in the check, rounds halves to even
        return round((pts - self.first_pts) * self.time_base * self.fps)

    def pts(self, frame: int) -> int:
        """A timestamp that :meth:`number` maps to ``frame`` (the nearest one)."""
        return self.first_pts + round(frame / (self.time_base * self.fps))


def frame_numbering(path: str | os.PathLike, fps: float | None = None) -> FrameNumbering | None:
    """:func:`seek_is_exact`'s answer with the numbering it checked: None where it says False
    (PyAV missing included, without the warning)."""
    try:
        import av  # noqa: F401
    except ImportError:
        return None
    p = Path(path)
    if fps is None:
        fps = probe_video(p).fps
    st = p.stat()
    return _seek_is_exact_cached(str(p), int(st.st_size), int(st.st_mtime_ns), float(fps))


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

        warnings.warn(
            "PyAV is not installed, so OpenCV's seeks cannot be checked against the videos' "
            "timestamps: videos are decoded from their first frame (right, but slower); "
            "pip install av",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return frame_numbering(path, fps) is not None


class DecodeState:
    """Filled in by :func:`decode_frames`: where the video really ended, if decoding reached it."""

    __slots__ = ("frames_decoded", "n_decoded", "seeked")

    def __init__(self) -> None:
        self.n_decoded: int | None = None  # real frame count once the end was reached
        self.seeked = False
        self.frames_decoded = 0  # frames the decoders put out (skipped ones are not decoded)


def _seek(cap, frame: int) -> bool:
    """Seek ``cap`` so that the next grab returns ``frame``; True only if verified."""
    import cv2

    cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
    return int(cap.get(cv2.CAP_PROP_POS_FRAMES)) == frame


def decode_frames(
    path: Path,
    wanted: np.ndarray,
    *,
    color: str,
    decode_threads: int,
    state: DecodeState,
    seek: bool | None = None,
    numbering: FrameNumbering | None = None,
    reuse: bool = False,
) -> Iterator[tuple[int, np.ndarray]]:
    """Core sequential reader; see :func:`iter_video_frames`. ``wanted`` sorted, unique.

    ``seek``: True, start with a verified seek to ``wanted[0]`` (the caller found the file
    seek-exact, e.g. :class:`ucf_nb.VideoClipStream`'s plan); False, decode from frame 0;
    None, seek only when :func:`seek_is_exact` says so (checked here).

    ``numbering``: the file is seek-exact with this numbering (:func:`frame_numbering`):
    decode with :func:`_decode_skipping` first (non-reference frames nobody wants are not
    decoded), then with OpenCV whatever it left.

    ``reuse``: the caller is done with each yielded frame before asking for the next one and
    only reads it, so one buffer may hold them all (OpenCV's path) and a frame may be a
    read-only view (PyAV's path); otherwise every frame is a new, writable array."""
    if len(wanted) == 0:
        return
    with _QUIET.active():
        if numbering is not None:
            done = -1
            for k, frame in _decode_skipping(
                path, wanted, numbering, seek=seek is not False, color=color, decode_threads=decode_threads, state=state
            ):
                yield k, frame if reuse else frame.copy()  # a read-only view on PyAV's frame
                done = k
            wanted = wanted[wanted > done]
            if len(wanted) == 0:
                return
            seek = True  # seek-exact: OpenCV's verified seek to the next wanted frame is safe
        yield from _decode_opencv(
            path, wanted, color=color, decode_threads=decode_threads, state=state, seek=seek, reuse=reuse
        )


def _decode_opencv(
    path: Path,
    wanted: np.ndarray,
    *,
    color: str,
    decode_threads: int,
    state: DecodeState,
    seek: bool | None,
    reuse: bool,
) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`decode_frames` with OpenCV: ``grab()`` every frame, ``retrieve()`` the wanted ones."""
    import cv2

    cap = open_video(path, decode_threads=decode_threads)
    sink = _QUIET.sink()  # FFmpeg's complaints about a damaged stream never reach the user's screen
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
        buf = rgb_buf = None
        grab = cap.grab
        while k <= last:
            if not sink.call(grab):
                break
            state.frames_decoded += 1
            if k == wanted[j]:
                ok, frame = sink.call(cap.retrieve, buf) if buf is not None else sink.call(cap.retrieve)
                if not ok or frame is None:
                    break  # a frame that decodes but cannot be converted ends the video
                if reuse:
                    buf = frame
                if color == "rgb":
                    frame = rgb_buf = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=rgb_buf if reuse else None)
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
            yield from _decode_opencv(
                path, wanted, color=color, decode_threads=decode_threads, state=state, seek=False, reuse=reuse
            )
            return
        state.n_decoded = k
    finally:
        if cap is not None:
            cap.release()
        sink.close()


# PyAV's BGR conversion checked against OpenCV's, per frame format: {key: same pixels}
_SAME_CONVERSION: dict[tuple, bool] = {}
_SAME_CONVERSION_LOCK = threading.Lock()


def _pyav_converts_like_opencv(path: Path, frame: Any) -> bool:
    """Whether PyAV's conversion to ``bgr24`` gives OpenCV's pixels, and to ``rgb24`` the same
    pixels with the channels swapped, for frames shaped as ``frame`` (size, pixel format,
    colour space and range): checked once per process and such shape, bit for bit, on the
    first frame of ``path`` decoded by both (the two libraries carry their own FFmpeg, whose
    colour conversions could differ). A check that cannot be made answers False and is not
    remembered."""
    key = (frame.width, frame.height, frame.format.name, int(frame.colorspace), int(frame.color_range))
    with _SAME_CONVERSION_LOCK:
        if key in _SAME_CONVERSION:
            return _SAME_CONVERSION[key]
        import av

        try:
            cap = open_video(path)
        except VideoError:
            return False
        try:
            ok, ref = cap.read()
        finally:
            cap.release()
        if not ok or ref is None:
            return False
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                stream.codec_context.thread_count = 1
                first = next(iter(container.decode(stream)))
                if (first.width, first.height, first.format.name, int(first.colorspace), int(first.color_range)) != key:
                    return False
                reformat = av.video.reformatter.VideoReformatter().reformat
                bgr = reformat(first, format="bgr24").to_ndarray()
                rgb = reformat(first, format="rgb24").to_ndarray()
        except (av.FFmpegError, StopIteration, OSError, ValueError):
            return False
        same = bgr.shape == ref.shape and np.array_equal(bgr, ref) and np.array_equal(rgb, ref[..., ::-1])
        _SAME_CONVERSION[key] = bool(same)
        return bool(same)


def _packed_view(frame: Any) -> np.ndarray:
    """The pixels of a packed 24-bit ``frame`` (rgb24, bgr24) as a read-only (H, W, 3) uint8
    array on the frame's own buffer (no copy; the array keeps the buffer alive)."""
    plane = frame.planes[0]
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(frame.height, plane.line_size)
    return rows[:, : frame.width * 3].reshape(frame.height, frame.width, 3)


_SKIPPING_CODECS = ("h264",)  # where skipping non-reference frames was checked to keep the others' pixels


def _decode_skipping(
    path: Path,
    wanted: np.ndarray,
    numbering: FrameNumbering,
    *,
    seek: bool,
    color: str,
    decode_threads: int,
    state: DecodeState,
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a seek-exact video with PyAV, skipping the non-reference frames not wanted.

    Yields ``(frame number, uint8 (H, W, 3) in ``color`` order)`` for a prefix of ``wanted`` (in order) and
    stops silently at the first thing it cannot vouch for: another codec than H.264, a frame
    format whose conversion differs from OpenCV's, an undecodable packet, a missing
    timestamp, a wanted frame that did not come out. :func:`decode_frames` then reads the rest with
    OpenCV.

    A frame's number comes from its timestamp (``numbering``), so a skipped frame shifts no
    other frame's number. The decoder is told per packet whether it may skip: a packet whose
    frame is wanted is decoded whatever it is (``skip_frame="DEFAULT"``), any other packet
    only if other frames reference it (``"NONREF"``). The loop filter and everything else
    stay at full quality. With one decoding thread (or slice threads) each packet is decoded
    when it is sent, under the setting in force then.

    After a seek, frames count only from the first key frame that comes out (earlier ones may
    lean on frames before the seek point); when that key frame lies past ``wanted[0]`` the
    seek goes back further."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError):
        return
    try:
        stream = container.streams.video[0]
        cc = stream.codec_context
        if cc.name not in _SKIPPING_CODECS:
            return
        cc.thread_count = max(int(decode_threads), 0)
        if cc.thread_count != 1:
            cc.thread_type = "SLICE"  # frame threads would decode a packet later, under another setting
        pix_fmt = "rgb24" if color == "rgb" else "bgr24"
        reformat = av.video.reformatter.VideoReformatter().reformat  # keeps its conversion context
        first, last = int(wanted[0]), int(wanted[-1])
        wanted_set = set(wanted.tolist())
        # FrameNumbering.number, inlined (it runs for every packet and frame)
        p0, tb, fps = numbering.first_pts, numbering.time_base, numbering.fps
        j = 0
        back = 0  # frames before wanted[0] to seek to
        checked = False
        while True:
            if seek and first > 0:
                container.seek(numbering.pts(max(first - back, 0)), stream=stream, backward=True)
                state.seeked = first - back > 0
            trusted = not (seek and first > 0)
            mode = None
            landed_past = False
            for packet in container.demux(stream):
                pts = packet.pts
                if pts is not None and packet.size:
                    want = "DEFAULT" if round((pts - p0) * tb * fps) in wanted_set else "NONREF"
                else:
                    want = "DEFAULT"
                if want != mode:
                    cc.skip_frame = mode = want  # type: ignore[assignment]  # one of PyAV's skip_frame names
                for frame in cc.decode(packet):
                    state.frames_decoded += 1
                    pts = frame.pts
                    if pts is None:
                        return
                    k = round((pts - p0) * tb * fps)
                    if not trusted:
                        if not frame.key_frame:
                            continue  # a leading frame of the seek point's group
                        trusted = True
                        if k > first:
                            landed_past = True
                            break
                    if k < wanted[j]:
                        continue
                    if k > wanted[j]:
                        return  # a wanted frame did not come out
                    if not checked:
                        if not _pyav_converts_like_opencv(path, frame):
                            return
                        checked = True
                    yield k, _packed_view(reformat(frame, format=pix_fmt))
                    j += 1
                    if j == len(wanted) or k >= last:
                        return
                if landed_past:
                    break
            if not landed_past:
                return  # the stream ended before the wanted frames did
            if first - back <= 0:
                return
            back = max(2 * back, 16)
            cc.flush_buffers()
    except (av.FFmpegError, OSError, ValueError):
        return  # OpenCV's reader takes over, and says what is wrong if it is
    finally:
        container.close()


def _wanted_array(frames: Iterable[int] | None, path) -> np.ndarray | None:
    if frames is None:
        return None
    arr = np.asarray(list(frames) if not isinstance(frames, np.ndarray) else frames)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"frames for {path} must be a 1-D sequence of integer frame numbers, "
            f"got dtype {arr.dtype} with shape {arr.shape}"
        )
    if arr.min() < 0:
        raise ValueError(f"frame numbers for {path} must be >= 0, got {int(arr.min())}")
    return np.unique(arr.astype(np.int64))


def iter_video_frames(
    path: str | os.PathLike,
    frames: Iterable[int] | None = None,
    *,
    color: str = "rgb",
    decode_threads: int = 1,
    seek: bool = True,
) -> Iterator[tuple[int, np.ndarray]]:
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
    return decode_frames(
        Path(path),
        wanted,
        color=color,
        decode_threads=decode_threads,
        state=DecodeState(),
        seek=None if seek else False,
    )


def _iter_all(path: Path, *, color: str, decode_threads: int) -> Iterator[tuple[int, np.ndarray]]:
    import cv2

    cap = open_video(path, decode_threads=decode_threads)
    sink = _QUIET.sink()
    quiet = _QUIET.active()
    quiet.__enter__()
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
        quiet.__exit__(None, None, None)


def read_frame(
    path: str | os.PathLike, frame: int, *, color: str = "rgb", decode_threads: int = 1
) -> np.ndarray | None:
    """Read one frame by number (verified seek, else decode from the start).

    Returns
    -------
    numpy.ndarray or None
        uint8 (H, W, 3), or None when the video has no such frame.
    """
    for _, arr in iter_video_frames(path, [int(frame)], color=color, decode_threads=decode_threads):
        return arr
    return None
