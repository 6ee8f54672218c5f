"""What deciding seek exactness costs: ``ucf_nb.video.seek_is_exact``'s packet scan against a
full decode of the same video.

Writes a generated 320x240, 30 fps H.264 video of ``--minutes`` minutes into ``build/bench/``
(kept between runs), shaped as UCF-Crime's files and as ``bench_gpu.py``'s videos: keyframe
every 250 frames, 2 B-frames, crf 23, a synthetic scene with sensor grain (about the bits per
minute of real footage; a clean synthetic scene decodes several times faster). Then it
times, side by side, best of ``--repeats`` interleaved repeats, one thread:

- scan: ``seek_is_exact(path, fps)`` with its per-process cache emptied (PyAV reads every
  packet's timestamp, no decoding);
- decode: every frame decoded with OpenCV (``grab()`` only, no colour conversion: the least
  a :class:`ucf_nb.VideoClipStream` pass over the video costs);
- plan: ``VideoClipStream(rows)`` on all of the video's clips (clip_len 32, stride 16, T=8),
  which scans once because the video needs several segments;
- count: ``count_video_frames(path)``, what ``build_index`` does per video (PyAV counts the
  packets, no decoding; a container whose own count disagrees would be decoded instead).

Run from the project root::

    python benchmarks/bench_seek_scan.py
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import time
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py (the script's folder is on sys.path)


def _video(folder: Path, minutes: float) -> Path:
    from bench_gpu import _grainy_frame  # the UCF-Crime-shaped scene of the GPU benchmark

    from ucf_nb.demo.synthetic import write_synthetic_video

    path = folder / f"scan_{minutes:g}min_grainy_h264_gop250.mp4"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.mp4")
        write_synthetic_video(
            tmp,
            int(round(30 * 60 * minutes)),
            fps=30,
            codec="libx264",
            gop=250,
            bframes=2,
            crf=23,
            frame_fn=_grainy_frame,
        )
        tmp.replace(path)
    return path


def _decode_all(path: Path) -> int:
    from ucf_nb.video import open_video

    cap = open_video(path, decode_threads=1)
    n = 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2
    import pandas as pd

    from ucf_nb import VideoClipStream, clip_windows, count_video_frames
    from ucf_nb.video.decode import probe_video
    from ucf_nb.video.decode import _seek_is_exact_cached
    from ucf_nb.video import seek_is_exact

    cv2.setNumThreads(1)
    path = _video(args.work, args.minutes)
    fps = probe_video(path).fps
    n = _decode_all(path)
    w = clip_windows(n, 32, 16)
    rows = pd.DataFrame({"path": str(path), "start_frame": w[:, 0], "end_frame": w[:, 1]})
    best = {"scan": float("inf"), "decode": float("inf"), "plan": float("inf"), "count": float("inf")}
    for _ in range(args.repeats):
        _seek_is_exact_cached.cache_clear()
        t = time.perf_counter()
        exact = seek_is_exact(path, fps)
        best["scan"] = min(best["scan"], time.perf_counter() - t)
        t = time.perf_counter()
        assert _decode_all(path) == n
        best["decode"] = min(best["decode"], time.perf_counter() - t)
        _seek_is_exact_cached.cache_clear()
        t = time.perf_counter()
        stream = VideoClipStream(rows, T=8)
        best["plan"] = min(best["plan"], time.perf_counter() - t)
        t = time.perf_counter()
        counted = count_video_frames(path)
        best["count"] = min(best["count"], time.perf_counter() - t)
        assert (counted.n_frames, counted.method) == (n, "packets")
    import av

    print(
        f"Machine: {cpu_model()} ({os.cpu_count()} logical CPUs), Python {platform.python_version()}, "
        f"OpenCV {cv2.__version__}, PyAV {av.__version__}. Date: {_dt.date.today().isoformat()}."
    )
    print(
        f"video: {path.name}, {n} frames, {path.stat().st_size / 1e6:.1f} MB, seek-exact: {exact}, "
        f"{len(stream.segments)} segments of <= {stream.segment_clips} clips ({len(rows)} clips)"
    )
    print("| step | seconds (best of %d) | frames/s |" % args.repeats)
    print("|---|---|---|")
    for key, label in (
        ("scan", "packet scan (`seek_is_exact`, cache emptied)"),
        ("decode", "full decode (OpenCV `grab()`, 1 thread)"),
        ("plan", "`VideoClipStream` plan (one scan)"),
        ("count", "frame count (`count_video_frames`: packets)"),
    ):
        print(f"| {label} | {best[key]:.3f} | {n / best[key]:,.0f} |")
    print(f"decode / scan: {best['decode'] / best['scan']:.0f}x")


if __name__ == "__main__":
    main()
