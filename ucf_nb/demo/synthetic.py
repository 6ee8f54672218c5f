"""Synthetic surveillance-like videos with their frame numbers drawn into the pixels, and
synthetic embedding stores.

Used by the demo dataset, the tests and the benchmarks (not part of ucf_nb's top level). Each frame carries its own frame number as a
band of 16 black/white cells across the top (bit 15 on the left), which survives lossy
coding, so a decoder's output can be checked frame by frame with :func:`read_frame_number`.
Writing needs PyAV (``pip install av``); reading the stamp needs only numpy.
"""
from __future__ import annotations

import functools
import os
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from ..files import file_sha256
from ..store.arrays import EmbeddingStore, row_shape

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["stamp_frame_number", "read_frame_number", "synthetic_frame", "write_video", "write_synthetic_video",
           "write_synthetic_store"]

N_BITS = 16
BAND_HEIGHT = 16


def stamp_frame_number(frame: np.ndarray, k: int) -> np.ndarray:
    """Draw ``k`` (0 <= k < 65536) into the top band of ``frame`` (H, W, 3) uint8, in place."""
    if not 0 <= k < 2**N_BITS:
        raise ValueError(f"frame number {k} does not fit in {N_BITS} bits")
    w = frame.shape[1] // N_BITS
    for bit in range(N_BITS):
        on = (k >> (N_BITS - 1 - bit)) & 1
        frame[:BAND_HEIGHT, bit * w:(bit + 1) * w] = 255 if on else 0
    return frame


def read_frame_number(frame: np.ndarray) -> int:
    """Read back the number drawn by :func:`stamp_frame_number` from a decoded frame.

    Works on RGB or BGR (the band is grey) and on frames resized to any width, as long as
    the band keeps its aspect (reads the centre of each cell).
    """
    h, w = frame.shape[:2]
    band = h * BAND_HEIGHT // 240 if h != 240 else BAND_HEIGHT
    cw = w / N_BITS
    k = 0
    for bit in range(N_BITS):
        x0, x1 = int(bit * cw + cw * 0.3), int(bit * cw + cw * 0.7)
        y0, y1 = max(0, int(band * 0.25)), max(1, int(band * 0.75))
        k = (k << 1) | int(frame[y0:y1, x0:x1].mean() > 127)
    return k


@functools.lru_cache(maxsize=16)
def _background(seed: int, width: int, height: int) -> np.ndarray:
    """The textured static background of :func:`synthetic_frame` (read-only; made once per
    seed and size, since every frame of a video shares it)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 120, size=(height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    frame = np.repeat(np.repeat(base, 8, axis=0), 8, axis=1)[:height, :width].copy()
    frame.setflags(write=False)
    return frame


def synthetic_frame(k: int, width: int = 320, height: int = 240, *, seed: int = 0,
                    event: bool = False) -> np.ndarray:
    """One RGB frame (height, width, 3) uint8 of a quiet synthetic scene at frame ``k``.

    A textured static background (fixed by ``seed``), a slow grey "pedestrian" and, when
    ``event`` is true, a fast bright disc crossing the scene: the visible anomaly of the
    demo videos. The frame number is stamped into the top band.
    """
    frame = _background(seed, width, height).copy()
    # slow walker: a grey box moving left to right
    px = int((k * 1.5 + seed * 37) % (width + 40)) - 20
    frame[height // 2:height // 2 + 40, max(0, px):max(0, px + 16)] = 170
    if event:
        cx = (k * 11 + seed * 13) % width
        cy = height // 2 + int(60 * np.sin(k / 5.0))
        yy, xx = np.ogrid[0:height, 0:width]
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < 22 ** 2
        frame[disc] = (255, 240, 60)
    return stamp_frame_number(frame, k)


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], *, fps: int = 30,
                codec: str = "libx264", gop: int = 250, bframes: int = 2,
                pts_offset: int = 0, crf: int = 18, lossless: bool = False,
                frame_pts: "Sequence[int] | None" = None) -> Path:
    """Encode RGB uint8 frames (H, W, 3) into ``path`` with PyAV.

    Parameters
    ----------
    codec : {"libx264", "mpeg4"}
        H.264 (how UCF-Crime's ``*_x264.mp4`` files are made) or MPEG-4 part 2.
    gop : int
        Frames between keyframes (scene-cut keyframes are switched off for H.264).
    bframes : int
        Maximum consecutive B-frames.
    pts_offset : int
        First presentation timestamp, in frames: a non-zero value makes a file whose
        timestamps do not start at zero.
    frame_pts : sequence of int, optional
        Presentation timestamp of each frame, in 1 / ``fps`` units, increasing (default
        ``pts_offset + i``): gaps make a file with dropped frames / a variable frame rate.
    crf : int
        H.264 quality (lower is better); ignored when ``lossless``.
    lossless : bool
        H.264 at qp 0: decoding gives back exactly the YUV that was encoded, whatever choices
        the encoder made. x264's lossy output can differ by a few grey levels between runs on
        a busy machine; lossless files decode to the same pixels every time.
    """
    import av  # optional dependency: only writing videos needs it

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.codec_context.thread_count = 1
        if codec == "libx264":
            quality = {"qp": "0"} if lossless else {"crf": str(crf)}
            stream.options = {**quality, "preset": "veryfast",
                              "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}:threads=1"}
        else:
            stream.options = {"g": str(gop), "bf": str(bframes), "qscale": "3"}
            stream.codec_context.gop_size = gop

        def emit(i: int, arr: np.ndarray) -> None:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            vf.pts = pts_offset + i if frame_pts is None else int(frame_pts[i])
            vf.time_base = Fraction(1, fps)
            for packet in stream.encode(vf):
                container.mux(packet)

        emit(0, first)
        for i, arr in enumerate(frames, start=1):
            emit(i, arr)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_synthetic_video(path: str | os.PathLike, n_frames: int, *, fps: int = 30,
                          width: int = 320, height: int = 240, seed: int = 0,
                          events: Iterable[tuple[int, int]] = (),
                          frame_fn: Callable[..., np.ndarray] = synthetic_frame,
                          **codec_options) -> Path:
    """Write ``n_frames`` of :func:`synthetic_frame`; frames inside any ``events`` window
    ``[start, end)`` show the bright fast object."""
    events = [(int(a), int(b)) for a, b in events]
    gen = (frame_fn(k, width, height, seed=seed, event=any(a <= k < b for a, b in events))
           for k in range(n_frames))
    return write_video(path, gen, fps=fps, **codec_options)


def write_synthetic_store(folder: str | os.PathLike, index: "pd.DataFrame",
                          embed: Callable[[str, "pd.DataFrame"], tuple[Iterable[np.ndarray], np.ndarray]], *,
                          embedding_dim: int, annotation_lines: Iterable[str] | None = None,
                          index_name: str = "index_clips.csv", settings: dict | None = None
                          ) -> tuple[Path, Path, Path | None]:
    """Write a whole extraction run without a model: the index CSV, the temporal annotation and
    a finished store of every split, through :class:`ucf_nb.store.EmbeddingStore`. One builder
    for the tests and the benchmarks.

    Parameters
    ----------
    folder : path
        Gets ``index_name``, ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt`` (when
        ``annotation_lines`` is given) and the store ``out/`` (emptied first).
    index : pandas.DataFrame
        Index rows (:data:`ucf_nb.index.INDEX_COLUMNS` and ``video``), in index order.
    embed : callable
        ``embed(split, rows) -> (chunks, n_real)``: ``n_real`` int (n,), real frames per clip
        (0: a failed clip, stored as NaN), and ``chunks`` float32 arrays (n_i, embedding_dim)
        of consecutive rows of the split, all of them, a failed clip's row included (it is
        dropped); (n_i, V, embedding_dim) with ``settings={"views": "ten_crop"}`` (V = 10).
        Called once per split, in index order; chunks are consumed one at a time.
    embedding_dim : int
        D.
    settings : dict, optional
        Changes to the store settings (checkpoint ``"synthetic"``, T 8, fp32, ...).

    Returns
    -------
    (out_dir, index_path, annotation_path or None)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / index_name
    index.to_csv(index_path, index=False)
    ann_path = None
    if annotation_lines is not None:
        ann_path = folder / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
        ann_path.write_text("\n".join(annotation_lines) + "\n")
    run: dict[str, Any] = dict(index_sha256=file_sha256(index_path), checkpoint="synthetic", revision=None,
                               model_type="synthetic", embedding_dim=int(embedding_dim), pooling="cls",
                               precision="fp32", T=8, img_size=224, preprocessing={"kind": "synthetic"},
                               index_path=str(index_path), versions={})
    run.update(settings or {})
    store = EmbeddingStore(folder / "out")
    store.clear()
    store.check_settings(run)
    width = int(np.prod(row_shape(run)))
    for split in dict.fromkeys(index["split"]):
        rows = np.flatnonzero(index["split"].to_numpy() == split)
        sub = index.loc[rows]
        chunks, n_real = embed(split, sub)
        writer = store.open_shard(split, rows, sub["path"].to_numpy(), width)
        a = 0
        for emb in chunks:
            b = a + len(emb)
            ok = n_real[a:b] > 0
            writer.write(rows[a:b], np.asarray(emb)[ok].reshape(int(ok.sum()), width), n_real[a:b])
            a = b
        if a != len(rows):
            raise ValueError(f"embed({split!r}) gave {a} embeddings for {len(rows)} rows")
        writer.commit()
        if not store.finalize(split, run, rows, sub["y"].to_numpy(), int(run["T"])):
            raise RuntimeError(f"split {split!r} of the synthetic store did not finish")
    return folder / "out", index_path, ann_path
