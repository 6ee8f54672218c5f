"""From a video file to model input: clip windows, decoding, preprocessing, the clip datasets.

- ``sampling``    clip windows and uniform T-frame sampling, pure functions of frame numbers
- ``decode``      open a video, decode it once in order, hand out the frames clips need
- ``preprocess``  Preprocessing as a value: spatial part in workers, normalise on the device
- ``dataset``     ClipDataset (the prototype's reference) and VideoClipStream (per video); torch
- ``workers``     DataLoader workers safe after OpenCV use, and their watchdog

The package re-exports ``decode``'s names, so ``ucf_nb.video.open_video`` (the module path of
ucf-nb 0.1) keeps working. Importing it imports neither torch nor OpenCV.
"""

from __future__ import annotations

from .decode import (
    VideoError,
    VideoInfo,
    captured_stderr,
    iter_video_frames,
    open_video,
    probe_video,
    read_frame,
    seek_is_exact,
)

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
