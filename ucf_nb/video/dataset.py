"""Clips of index rows as model input: the map-style reference and the per-video stream.

- :class:`ClipDataset`: the prototype's map-style dataset (one seek per sampled frame),
  kept as the readable reference and for interactive use. Returns ``(clip, label)`` with
  ``clip`` float32 of shape (3, T, S, S).
- :class:`VideoClipStream`: the extraction path. An ``IterableDataset`` that decodes each
  video once, in order, and yields every clip of it as uint8 frames tagged with the
  clip's index row number; :func:`collate_clips` batches them and
  :meth:`ucf_nb.Preprocessing.normalize` turns a batch into model input on the
  accelerator.

Both sample ``T`` frames per clip with :func:`ucf_nb.uniform_sample_indices` and give the
same pixels. Neither ever fills a clip with zeros in silence: a clip that reaches past the
real last frame of its video (container frame counts can lie) is completed by repeating
that last real frame, and ``n_real`` says how many sampled positions hold real frames.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import check_int
from ..paths import resolve_path
from ..progress import progress_bar
from .decode import (
    DecodeState,
    FrameNumbering,
    VideoError,
    captured_stderr,
    decode_frames,
    frame_numbering,
    open_video,
    probe_video,
    read_frame,
    seek_is_exact,
)
from .preprocess import Preprocessing
from .sampling import uniform_sample_indices
from .workers import note_segment

__all__ = ["ClipDataset", "VideoClipStream", "collate_clips"]

_ON_ERROR = ("raise", "skip")
_REQUIRED = ("path", "start_frame", "end_frame")

# the stream is a torch IterableDataset; torch is imported with this module
from torch.utils.data import Dataset as _TorchDataset  # noqa: E402
from torch.utils.data import IterableDataset as _TorchIterable  # noqa: E402


# ----------------------------------------------------------------------------- helpers
def _check_rows(df, T: int, who: str, extra: Sequence[str] = ()) -> None:
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{who} expects a pandas DataFrame of index rows, got {type(df).__name__}")
    missing = [c for c in (*_REQUIRED, *extra) if c not in df.columns]
    if missing:
        raise ValueError(f"{who}: the rows lack column(s) {missing}; pass rows of the clip index (ucf_nb.read_index)")
    check_int("T", T, 1, who=f"{who}: ")
    if not df.index.is_unique:
        raise ValueError(
            f"{who}: the DataFrame index must be unique index row numbers; "
            f"do not reset or concatenate it without ignore_index"
        )
    start = df["start_frame"].to_numpy()
    end = df["end_frame"].to_numpy()
    bad = np.flatnonzero((start < 0) | (end <= start))
    if bad.size:
        r = df.index[bad[0]]
        raise ValueError(
            f"{who}: index row {r} has start_frame={start[bad[0]]}, "
            f"end_frame={end[bad[0]]}; need 0 <= start_frame < end_frame "
            f"(end exclusive)"
        )


def _sample_table(start: np.ndarray, end: np.ndarray, T: int) -> np.ndarray:
    """uniform_sample_indices for many windows, shape (N, T); computed once per length."""
    out = np.empty((len(start), T), dtype=np.int64)
    offsets: dict[int, np.ndarray] = {}
    for i, (s, e) in enumerate(zip(start.tolist(), end.tolist())):
        n = e - s
        off = offsets.get(n)
        if off is None:
            off = offsets[n] = uniform_sample_indices(0, n, T)
        out[i] = s + off
    return out


def _check_preprocessing(preprocessing, img_size, who: str) -> Preprocessing:
    if preprocessing is None:
        return Preprocessing.seed(224 if img_size is None else img_size)
    if not isinstance(preprocessing, Preprocessing):
        raise TypeError(
            f"{who}: preprocessing must be a ucf_nb.Preprocessing (e.g. "
            f"Preprocessing.seed() or Preprocessing.from_pretrained(checkpoint)), "
            f"got {type(preprocessing).__name__}"
        )
    if img_size is not None and int(img_size) != preprocessing.output_size:
        raise ValueError(
            f"{who}: img_size={img_size} disagrees with the preprocessing's "
            f"output size {preprocessing.output_size}; pass only one of them"
        )
    return preprocessing


def _spatial_rgb(pre: Preprocessing, bgr: np.ndarray) -> np.ndarray:
    """Decoded BGR frame -> spatially preprocessed RGB (S, S, 3) uint8.

    Resizing acts on each channel alone, so resizing before the channel swap gives the
    same pixels as the prototype's swap-then-resize, on fewer pixels."""
    import cv2

    out = pre.spatial_frame(bgr)
    if out.ndim == 4:  # ten-crop: the six crops (6, S, S, 3), converted as one image
        return cv2.cvtColor(out.reshape(-1, *out.shape[2:]), cv2.COLOR_BGR2RGB).reshape(out.shape)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def _last_real_frame(pre: Preprocessing, path: Any, n_dec: int, have: Any, decode_threads: int) -> np.ndarray | None:
    """The video's last real frame (``n_dec - 1``), spatially preprocessed, that fills the
    positions of a clip past the end: from ``have`` (frame number -> frame) when it was
    decoded already, else read again; None when it does not decode."""
    last = have.get(n_dec - 1)
    if last is None:
        bgr = read_frame(path, n_dec - 1, color="bgr", decode_threads=decode_threads)
        if bgr is not None:
            last = _spatial_rgb(pre, bgr)
    return last


def _end_message(path, first: int, n_decoded: int) -> str:
    return (
        f"{path}: the clip starts at frame {first} but only {n_decoded} frames decode "
        f"(the container's frame count is wrong or the file is truncated)"
    )


# ------------------------------------------------------------------------ ClipDataset
class ClipDataset(_TorchDataset):
    """Map-style dataset of clips, one seek per sampled frame (the prototype's loader).

    Parameters
    ----------
    df : pandas.DataFrame
        Index rows (columns ``path``, ``start_frame``, ``end_frame``, and ``y`` for
        ``__getitem__``); ``df.index`` holds the index row numbers.
    T : int
        Frames sampled per clip with :func:`ucf_nb.uniform_sample_indices`.
    img_size : int, optional
        Output side S for the default ``Preprocessing.seed(img_size)`` (default 224).
    preprocessing : Preprocessing, optional
        Default: the ``seed`` preset, which reproduces the prototype exactly.
    decode_threads : int
        FFmpeg threads per open video.

    Notes
    -----
    Unlike the prototype it never zero-fills: a sampled frame that does not decode is
    replaced by the video's last real frame when the video ended early (the count of real
    positions is in :meth:`read_clip`'s ``n_real`` and a warning is issued), and a video
    that cannot be opened raises :class:`ucf_nb.VideoError` naming the file. A seek is
    trusted only if the decoder lands on the requested frame, and only on a video whose
    timestamps are one frame apart (:func:`ucf_nb.video.seek_is_exact`); any other video is
    decoded from its first frame.
    """

    def __init__(
        self,
        df,
        T: int = 8,
        img_size: int | None = None,
        preprocessing: Preprocessing | None = None,
        *,
        decode_threads: int = 1,
    ):
        _check_rows(df, T, "ClipDataset")
        self.df = df
        self.T = int(T)
        self.preprocessing = _check_preprocessing(preprocessing, img_size, "ClipDataset")
        self.decode_threads = int(decode_threads)
        self._real_counts: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.df)

    def _real_count(self, path: Path) -> int:
        key = str(path)
        if key not in self._real_counts:
            self._real_counts[key] = probe_video(path, count_frames=True).n_frames
        return self._real_counts[key]

    def read_clip(self, i: int) -> dict[str, Any]:
        """Decode the clip at position ``i`` (0-based position in ``df``, not row number).

        Returns
        -------
        dict
            ``{"row": int, "frames": uint8 (T, S, S, 3) RGB, "n_real": int,
            "frame_ids": int64 (T,), "error": str | None}``, the stream's item format.
        """
        import cv2

        row = self.df.iloc[i]
        path = resolve_path(row["path"])
        ids = uniform_sample_indices(int(row["start_frame"]), int(row["end_frame"]), self.T)
        pre = self.preprocessing
        got: dict[int, np.ndarray] = {}
        cap = open_video(path, decode_threads=self.decode_threads)
        try:
            # OpenCV numbers a landed frame from its timestamp: on a file whose timestamps are
            # not one frame apart its seeks land elsewhere while saying they did not
            exact = seek_is_exact(path, float(cap.get(cv2.CAP_PROP_FPS) or 0.0))
            for f in np.unique(ids).tolist() if exact else ():
                cap.set(cv2.CAP_PROP_POS_FRAMES, f)
                if int(cap.get(cv2.CAP_PROP_POS_FRAMES)) != f:
                    continue  # the seek landed elsewhere: do not trust what it reads
                ok, frame = cap.read()
                if ok and frame is not None:
                    got[f] = _spatial_rgb(pre, frame)
        finally:
            cap.release()
        if not exact:  # one decode from the first frame, numbering frames as they come
            for f, frame in decode_frames(
                path, np.unique(ids), color="bgr", decode_threads=self.decode_threads, state=DecodeState(), seek=False
            ):
                got[f] = _spatial_rgb(pre, frame)
        n_real, error = self.T, None
        missing = [f for f in np.unique(ids).tolist() if f not in got]
        if missing:
            n_dec = self._real_count(path)
            if n_dec == 0:
                raise VideoError(path, "no frame decodes", "re-encode or replace the file")
            for f in missing:
                if f < n_dec:  # exists but the seek failed: decode forward from the start
                    frame = read_frame(path, f, color="bgr", decode_threads=self.decode_threads)
                    if frame is None:
                        raise VideoError(path, f"frame {f} does not decode although {n_dec} frames do")
                    got[f] = _spatial_rgb(pre, frame)
            last = got.get(n_dec - 1)
            if last is None and any(f >= n_dec for f in missing):
                last = _last_real_frame(pre, path, n_dec, got, self.decode_threads)
                if last is None:
                    raise VideoError(path, f"its last frame ({n_dec - 1}) does not decode")
            n_real = int((ids < n_dec).sum())
            for f in missing:
                if f >= n_dec:
                    assert last is not None  # a frame past n_dec is missing: last was found above
                    got[f] = last
            if n_real < self.T:
                warnings.warn(
                    f"{path}: clip row {self.df.index[i]} samples frames up to "
                    f"{int(ids[-1])} but only {n_dec} frames decode; the last real "
                    f"frame fills {self.T - n_real} of {self.T} positions",
                    RuntimeWarning,
                    stacklevel=2,
                )
            if n_real == 0:
                error = _end_message(path, int(ids[0]), n_dec)
        frames = np.stack([got[f] for f in ids.tolist()])
        return {"row": int(self.df.index[i]), "frames": frames, "n_real": n_real, "frame_ids": ids, "error": error}

    def __getitem__(self, i: int):
        """Return ``(clip, label)``: float32 tensor (3, T, S, S), normalised; int64 scalar."""
        import torch

        if "y" not in self.df.columns:
            raise ValueError("ClipDataset: the rows lack column 'y' (the label); use read_clip for unlabelled rows")
        if self.preprocessing.n_views > 1:
            raise ValueError(
                f"ClipDataset: a clip is one tensor per item; preprocessing with "
                f"views={self.preprocessing.views!r} gives several: use read_clip and "
                f"Preprocessing.expand_views"
            )
        item = self.read_clip(i)
        clip = self.preprocessing.normalize(torch.from_numpy(item["frames"]))  # (T, 3, S, S)
        clip = clip.permute(1, 0, 2, 3).contiguous()
        return clip, torch.tensor(int(self.df["y"].iloc[i]), dtype=torch.long)


# --------------------------------------------------------------------- VideoClipStream
def _exact_numbering(path: Path, needs_seek: bool) -> FrameNumbering | None:
    """How frames of ``path`` are numbered from their timestamps when it is seek-exact
    (:func:`ucf_nb.video.seek_is_exact`), else None; None also for a file that cannot be read
    (its segment then fails in the worker, which says why). Only a video that ``needs_seek``
    warns when PyAV is missing (the others lose nothing but the skipping of frames)."""
    try:
        fps = probe_video(path).fps
        if needs_seek and not seek_is_exact(path, fps):
            return None
        return frame_numbering(path, fps)
    except (VideoError, OSError):
        return None


class _ClipPool:
    """Clip arrays of one shape, handed out again once nobody else holds them.

    A fresh 1 MB array costs its pages on first touch (about a fifth of a clip's decoding
    time, measured in benchmarks/bench_decode.py's breakdown); a clip the consumer has let
    go (collated into a batch and dropped, as a DataLoader does) is written again instead.
    "Let go" is read from the array's reference count: while anything else holds it (the
    item dict, a view, a tensor from ``torch.from_numpy``, a memoryview), it is never
    reused. Keeps at most ``max_bytes`` of arrays; past that, new arrays are not kept."""

    def __init__(self, shape: tuple[int, ...], max_bytes: int = 64 << 20) -> None:
        import collections

        self.shape = shape
        self._ring: collections.deque[np.ndarray] = collections.deque()
        self._cap = max(1, max_bytes // max(1, int(np.prod(shape))))
        # the reference count of an array only the ring holds, measured on the same code path
        self._ring.append(np.empty(0, dtype=np.uint8))
        self._free_refs = self._refs_of_first()
        self._ring.clear()

    def _refs_of_first(self) -> int:
        arr = self._ring[0]
        return sys.getrefcount(arr)

    def get(self) -> np.ndarray:
        """An uint8 array of ``shape`` that nobody else holds (contents undefined)."""
        for _ in range(len(self._ring)):
            if self._refs_of_first() == self._free_refs:
                arr = self._ring[0]
                self._ring.rotate(-1)
                return arr
            self._ring.rotate(-1)
        arr = np.empty(self.shape, dtype=np.uint8)
        if len(self._ring) < self._cap:
            self._ring.append(arr)
        return arr


@dataclass(frozen=True)
class _Segment:
    """Contiguous clips of one video, decoded together by one worker."""

    path: Path
    rows: np.ndarray  # (K,) int64 index row numbers
    ids: np.ndarray  # (K, T) int64 sampled frame numbers
    seek: bool = False  # start with a verified seek to the first sampled frame (file is seek-exact)
    numbering: FrameNumbering | None = None  # seek-exact: frame numbers from timestamps, skipping allowed


class VideoClipStream(_TorchIterable):
    """Every clip of each video from one sequential decode, as uint8 frames.

    Rows are grouped by video; each video's clips (sorted by start) are cut into
    contiguous segments of at most ``segment_clips`` clips, and DataLoader worker ``i`` of
    ``W`` takes segments ``i, i + W, ...`` (deterministic). A segment decodes from a
    verified seek to its first sampled frame, converts and resizes only the frames its
    clips sample (each once, shared by overlapping clips), writes each straight into the
    clips' own arrays, emits a clip as soon as its last sampled frame is decoded and keeps
    nothing else, so memory stays flat on long videos. On a seek-exact H.264 video the
    decoder does not decode the non-reference frames no clip samples (same pixels; see
    :mod:`ucf_nb.video.decode`).

    Parameters
    ----------
    df : pandas.DataFrame
        Any subset of index rows (columns ``path``, ``start_frame``, ``end_frame``);
        ``df.index`` holds the index row numbers that tag each item. Paths resolve with
        :func:`ucf_nb.resolve_path`.
    T : int
        Frames sampled per clip with :func:`ucf_nb.uniform_sample_indices`.
    preprocessing : Preprocessing, optional
        Spatial part applied in the workers (default ``Preprocessing.seed(224)``); call
        ``preprocessing.normalize`` on collated batches.
    segment_clips : int
        Maximum clips per segment (balances workers on long videos; each extra segment
        costs one seek, i.e. decoding up to one keyframe interval). Seeks are used only on
        videos whose timestamps make them land on the frame they name
        (:func:`ucf_nb.video.seek_is_exact`, decided once per video here, in the parent,
        and only for a video that needs a seek: more than ``segment_clips`` clips, or a first
        clip past frame 0); any other video, and every video when PyAV is not installed,
        is one segment decoded from its first frame (right and linear, but one worker's).
    on_error : {"raise", "skip"}
        A video that cannot be opened or decoded raises :class:`ucf_nb.VideoError`
        (``"raise"``) or yields each of its rows with ``n_real=0``, zero frames and the
        error message (``"skip"``; such frames must not be embedded).
    decode_threads : int
        FFmpeg threads per decoder (1 suits one decoder per DataLoader worker).
    progress_dir : str, optional
        A folder where each DataLoader worker notes the segment it starts decoding
        (:func:`ucf_nb.video.workers.note_segment`), read by the extraction's watchdog.
    progress : bool
        Show a progress bar (:func:`ucf_nb.progress.progress_bar`) over the seek-exactness
        scan of the videos that need a seek, done here when the stream is made (a packet
        scan per video: tens of seconds on a whole UCF-Crime split).
    progress_desc : str
        What the scan's bar says before ``seek scan`` (e.g. the split).

    Yields
    ------
    dict
        ``{"row": int, "frames": uint8 numpy (T, S, S, 3) RGB, "n_real": int,
        "error": str | None}`` (ten-crop preprocessing: frames (T, 6, S, S, 3), the crops that
        make the ten views). ``n_real < T``: the video ended before the clip did and its
        last real frame fills the remaining positions; ``n_real == 0`` comes with an
        ``error`` (nothing real to embed). Order: by video, then by a clip's last sampled
        frame; use ``"row"`` to put each clip back on its own row.
    """

    def __init__(
        self,
        df,
        T: int = 8,
        preprocessing: Preprocessing | None = None,
        *,
        segment_clips: int = 256,
        on_error: str = "raise",
        decode_threads: int = 1,
        progress_dir: str | None = None,
        progress: bool = False,
        progress_desc: str = "",
    ):
        super().__init__()
        _check_rows(df, T, "VideoClipStream")
        if on_error not in _ON_ERROR:
            raise ValueError(f"VideoClipStream: on_error={on_error!r} is not allowed; use 'raise' or 'skip'")
        check_int("segment_clips", segment_clips, 1, who="VideoClipStream: ")
        self.T = int(T)
        self.preprocessing = _check_preprocessing(preprocessing, None, "VideoClipStream")
        self.segment_clips = int(segment_clips)
        self.on_error = on_error
        self.decode_threads = int(decode_threads)
        self.progress_dir = progress_dir
        self.progress = bool(progress)
        self.progress_desc = f"{progress_desc} " if progress_desc else ""
        self.segments = self._plan(df)
        self._n = len(df)

    def __len__(self) -> int:
        return self._n

    def _plan(self, df) -> list[_Segment]:
        rows = np.asarray(df.index, dtype=np.int64)
        start = df["start_frame"].to_numpy(dtype=np.int64)
        end = df["end_frame"].to_numpy(dtype=np.int64)
        ids = _sample_table(start, end, self.T)
        resolved: dict[Any, str] = {}
        keys = []
        for p in df["path"].tolist():
            if p not in resolved:
                resolved[p] = str(resolve_path(p))
            keys.append(resolved[p])
        keys_arr = np.asarray(keys, dtype=object)
        segments: list[_Segment] = []
        seen: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            seen.setdefault(k, []).append(i)
        groups = []
        for positions in seen.values():
            pos = np.asarray(positions, dtype=np.int64)
            order = np.lexsort((rows[pos], ids[pos, -1], ids[pos, 0]))
            pos = pos[order]
            # a seek is needed only past frame 0: by a segment after the first, or by a first
            # clip that starts later. The packet scan (1/60 of a decode) is worth it on every
            # video: on a seek-exact one the decoder skips the unsampled non-reference frames
            groups.append((Path(keys_arr[pos[0]]), pos, len(pos) > self.segment_clips or int(ids[pos, 0].min()) > 0))
        numberings = self._scan_numbering([(path, needs) for path, _, needs in groups])
        for path, pos, needs_seek in groups:
            numbering = numberings[path]
            seek = needs_seek and numbering is not None
            step = self.segment_clips if seek else len(pos)  # not seek-exact: one pass from frame 0
            for a in range(0, len(pos), step):
                p = pos[a : a + step]
                segments.append(_Segment(path, rows[p], ids[p], seek=seek, numbering=numbering))
        return segments

    def _scan_numbering(self, videos: list[tuple[Path, bool]]) -> dict[Path, FrameNumbering | None]:
        """How each video's frames are numbered from their timestamps (:func:`_exact_numbering`:
        a packet scan each, seconds on a long video, checked with
        :func:`ucf_nb.video.seek_is_exact` where the video needs a seek), under its own progress
        bar when ``progress``."""
        out: dict[Path, FrameNumbering | None] = {}
        if not videos:
            return out
        with progress_bar(
            total=len(videos),
            desc=f"{self.progress_desc}seek scan".strip(),
            unit="video",
            disable=not self.progress,
            smoothing=0.1,
        ) as bar:
            for path, needs_seek in videos:
                out[path] = _exact_numbering(path, needs_seek)
                bar.update(1)
        return out

    def worker_segments(self, worker_id: int = 0, num_workers: int = 1) -> list[_Segment]:
        """Segments that worker ``worker_id`` of ``num_workers`` decodes."""
        return self.segments[worker_id::num_workers]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
        if info is None:
            pool = self._pool()
            for seg in self.worker_segments(wid, nw):
                yield from self._run(seg, pool)
            return
        yield from self._worker_iter(wid, nw)

    def _worker_iter(self, wid: int, nw: int) -> Iterator[dict[str, Any]]:
        """A DataLoader worker's share. Workers start from a fresh interpreter (see
        :mod:`ucf_nb.video.workers`), so OpenCV's thread pool is theirs to set up; FFmpeg/OpenCV
        log lines go to a temporary file, never to the notebook or the terminal (a video
        that fails says why in its error)."""
        pool = self._pool()
        with captured_stderr():
            for i, seg in enumerate(self.worker_segments(wid, nw)):
                note_segment(self.progress_dir, wid, path=seg.path, rows=seg.rows, frames=seg.ids)
                if i == 0:
                    # one OpenCV thread per DataLoader worker: the workers already fill the cores,
                    # and each one's own pool for resize / colour conversion would oversubscribe them
                    import cv2

                    cv2.setNumThreads(1)
                yield from self._run(seg, pool)

    # ------------------------------------------------------------------ one segment
    def _failed(self, seg: _Segment, err: VideoError) -> Iterator[dict[str, Any]]:
        if self.on_error == "raise":
            raise err
        shape = self.preprocessing.frame_shape
        for r in seg.rows.tolist():
            yield {"row": int(r), "frames": np.zeros((self.T, *shape), dtype=np.uint8), "n_real": 0, "error": str(err)}

    def _pool(self) -> _ClipPool:
        return _ClipPool((self.T, *self.preprocessing.frame_shape))

    def _run(self, seg: _Segment, pool: _ClipPool | None = None) -> Iterator[dict[str, Any]]:
        pre = self.preprocessing
        ids = seg.ids
        K, T = ids.shape
        if pool is None:
            pool = self._pool()
        emit = np.argsort(ids[:, -1], kind="stable")  # emission order: by last sampled frame
        emit_last = ids[emit, -1].tolist()  # (plain lists: they are read once per frame)
        rows = seg.rows.tolist()
        # where each sampled frame goes: the (clip, position) slots of frame wanted[i] are
        # slots[bounds[i]:bounds[i + 1]], as flat positions clip * T + position
        flat = ids.ravel()
        order = np.argsort(flat, kind="stable")
        wanted, bounds = np.unique(flat[order], return_index=True)
        bounds = np.append(bounds, len(flat)).tolist()
        slots = [divmod(f, T) for f in order.tolist()]
        wanted_l = wanted.tolist()
        # each clip's frames are written straight into its own array, taken from the pool when
        # its first frame arrives and handed out whole (never written again while anyone holds it)
        clips: list[np.ndarray | None] = [None] * K
        newest: tuple[int, list[tuple[int, int]]] = (-1, [])  # the newest frame's number and its slots
        state = DecodeState()
        p = 0
        i = 0
        try:
            for k, rgb in decode_frames(
                seg.path,
                wanted,
                color="rgb",
                decode_threads=self.decode_threads,
                state=state,
                seek=seg.seek,
                numbering=seg.numbering,
                reuse=True,
            ):
                while wanted_l[i] < k:  # pragma: no cover - the reader yields every wanted frame in order
                    i += 1
                src = None
                owners = slots[bounds[i] : bounds[i + 1]]
                for j, t in owners:
                    clip = clips[j]
                    if clip is None:
                        clip = clips[j] = pool.get()
                    if src is None:  # resized straight into the slot
                        src = pre.spatial_frame(rgb, out=clip[t])
                    else:  # the same frame in another clip
                        clip[t] = src
                newest = (k, owners)
                i += 1
                while p < K and emit_last[p] <= k:
                    j = int(emit[p])
                    yield {"row": rows[j], "frames": clips[j], "n_real": self.T, "error": None}
                    clips[j] = None
                    p += 1
        except VideoError as err:
            if p:  # pragma: no cover - open errors happen before any frame
                raise
            yield from self._failed(seg, err)
            return
        if p == K:
            return
        # the video ended before the remaining clips did
        n_dec = state.n_decoded if state.n_decoded is not None else 0
        if n_dec == 0:
            yield from self._failed(seg, VideoError(seg.path, "no frame decodes", "re-encode or replace the file"))
            return
        # the last real frame, from a clip not handed out yet (one handed out is the user's), else read again
        have = {}
        for j, t in newest[1]:
            clip = clips[j]
            if clip is not None:
                have[newest[0]] = clip[t].copy()
                break
        last = _last_real_frame(pre, seg.path, n_dec, have, self.decode_threads)
        if last is None:
            yield from self._failed(
                seg, VideoError(seg.path, f"its last frame ({n_dec - 1}) does not decode on a second read")
            )
            return
        for j in emit[p:].tolist():
            fr = ids[j]
            real = fr < n_dec
            n_real = int(real.sum())
            clip = clips[j]
            if clip is None:  # none of its frames decoded
                clip = np.empty((T, *pre.frame_shape), dtype=np.uint8)
            clip[~real] = last  # its real frames are in place already
            yield {
                "row": int(seg.rows[j]),
                "frames": clip,
                "n_real": n_real,
                "error": None if n_real else _end_message(seg.path, int(fr[0]), n_dec),
            }
            clips[j] = None


def collate_clips(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch stream items for a DataLoader (``collate_fn=collate_clips``).

    Returns
    -------
    dict
        ``{"row": int64 (B,), "frames": uint8 (B, T, S, S, 3), "n_real": int64 (B,),
        "error": list of str | None}`` (tensors on the CPU).
    """
    import torch

    if len(items) == 0:
        raise ValueError("collate_clips got an empty batch")
    return {
        "row": torch.tensor([int(it["row"]) for it in items], dtype=torch.int64),
        "frames": torch.from_numpy(np.stack([it["frames"] for it in items])),
        "n_real": torch.tensor([int(it["n_real"]) for it in items], dtype=torch.int64),
        "error": [it["error"] for it in items],
    }
