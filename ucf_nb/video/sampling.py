"""Clip windows and frame sampling: pure functions of frame numbers.

Frame numbers count decoded frames from 0. Every window is half-open: ``end`` is exclusive.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_int

__all__ = ["uniform_sample_indices", "clip_windows"]


def uniform_sample_indices(start: int, end: int, T: int) -> np.ndarray:
    """Pick ``T`` frame numbers spread evenly over ``[start, end)``.

    The prototype's rule: ``start + round(linspace(0, n - 1, T))`` with ``n = end - start``
    and numpy's rounding (half to even). A window shorter than ``T`` repeats frames.

    Parameters
    ----------
    start, end : int
        First frame and one past the last frame of the window (``end > start``).
    T : int
        Number of frames to sample (``T >= 1``).

    Returns
    -------
    numpy.ndarray of int64, shape (T,)
        Non-decreasing frame numbers, all in ``[start, end)``.
    """
    T = check_int("T", T, 1, who="uniform_sample_indices: ")
    start, end = int(start), int(end)
    if end <= start:
        raise ValueError(f"empty window: end_frame={end} must be greater than start_frame={start}")
    n = end - start
    return start + np.linspace(0, n - 1, T).round().astype(np.int64)


def clip_windows(n_frames: int, clip_len: int = 32, stride: int = 16) -> np.ndarray:
    """Every full clip window of a video: clip ``k`` is ``[k * stride, k * stride + clip_len)``.

    Windows that would reach past the last frame are not emitted, so a video shorter than
    ``clip_len`` has none.

    Returns
    -------
    numpy.ndarray of int64, shape (K, 2)
        Rows of ``(start_frame, end_frame)``, ``end_frame`` exclusive.
    """
    clip_len = check_int("clip_len", clip_len, 1, who="clip_windows: ")
    stride = check_int("stride", stride, 1, who="clip_windows: ")
    n_frames = int(n_frames)
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    if n_frames < clip_len:
        return np.empty((0, 2), dtype=np.int64)
    starts = np.arange(0, n_frames - clip_len + 1, stride, dtype=np.int64)
    return np.stack([starts, starts + clip_len], axis=1)
