"""Clip decoding speed: the sequential clip stream against the prototype's seek-per-frame loader.

Writes two generated 320x240, 30 fps, 60 s videos into ``build/bench/`` (kept between runs):
H.264 with a keyframe every 250 frames (B-frames on) and MPEG-4 part 2 with a keyframe
every 12. Both loaders read the same clips (clip_len 32, stride 16, T=8, the ``seed``
preprocessing at 224) on one pinned CPU core with one thread everywhere, and both produce
the same normalised float32 clips (checked, bit for bit, on every clip the baseline reads):

- baseline: :class:`ucf_nb.ClipDataset` (one seek + read per sampled frame, the prototype's
  loader), timed on ``--baseline-clips`` clips spread evenly over the video, because it is
  slow;
- stream: :class:`ucf_nb.VideoClipStream` over every clip of the video, plus
  :func:`ucf_nb.collate_clips` and ``Preprocessing.normalize`` on the CPU in batches of 16
  (on a GPU that last step moves to the accelerator).

Run from the project root::

    python benchmarks/bench_decode.py
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def _make_videos(folder: Path, seconds: int) -> dict[str, Path]:
    from ucf_nb.synthetic import write_synthetic_video

    specs = {
        "H.264, keyframe every 250": ("h264_gop250.mp4", dict(codec="libx264", gop=250, bframes=2)),
        "MPEG-4 part 2, keyframe every 12": ("mpeg4_gop12.mp4", dict(codec="mpeg4", gop=12, bframes=0)),
    }
    out = {}
    for label, (name, opts) in specs.items():
        path = folder / f"{seconds}s_{name}"
        if not path.exists():
            tmp = path.with_suffix(".tmp.mp4")
            write_synthetic_video(tmp, 30 * seconds, fps=30, width=320, height=240, **opts)
            tmp.replace(path)
        out[label] = path
    return out


def _rows(path: Path):
    import pandas as pd

    from ucf_nb import clip_windows, probe_video

    n = probe_video(path, count_frames=True).n_frames
    w = clip_windows(n, clip_len=32, stride=16)
    return pd.DataFrame({"path": str(path), "start_frame": w[:, 0], "end_frame": w[:, 1], "y": 0})


def _bench_one(path: Path, baseline_clips: int, repeats: int, batch_size: int = 16) -> dict:
    import torch

    from ucf_nb import ClipDataset, Preprocessing, VideoClipStream, collate_clips

    df = _rows(path)
    pre = Preprocessing.seed(224)
    # baseline: clips spread evenly over the whole video (unbiased w.r.t. keyframe distance)
    pick = np.unique(np.linspace(0, len(df) - 1, min(baseline_clips, len(df))).round().astype(int))
    ds = ClipDataset(df, T=8, preprocessing=pre, decode_threads=1)
    ref = {}
    base_s = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in pick.tolist():
            ref[i] = ds[i][0]
        base_s = min(base_s, time.perf_counter() - t0)

    def run_stream(normalize: bool):
        out = {}
        stream = VideoClipStream(df, T=8, preprocessing=pre, decode_threads=1)
        batch = []
        t0 = time.perf_counter()
        for item in stream:
            batch.append(item)
            if len(batch) == batch_size:
                b = collate_clips(batch)
                if normalize:
                    x = pre.normalize(b["frames"])  # (B, T, 3, S, S)
                    for r, clip in zip(b["row"].tolist(), x):
                        out[r] = clip
                batch = []
        if batch:
            b = collate_clips(batch)
            if normalize:
                x = pre.normalize(b["frames"])
                for r, clip in zip(b["row"].tolist(), x):
                    out[r] = clip
        return time.perf_counter() - t0, out

    stream_s = min(run_stream(True)[0] for _ in range(repeats))
    uint8_s = min(run_stream(False)[0] for _ in range(repeats))
    _, got = run_stream(True)
    same = all(torch.equal(got[int(i)].permute(1, 0, 2, 3), ref[i]) for i in pick.tolist())
    return {"clips": len(df), "baseline_clips": len(pick),
            "baseline_cps": len(pick) / base_s, "stream_cps": len(df) / stream_s,
            "stream_uint8_cps": len(df) / uint8_s, "identical": same}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="video length (default 60)")
    parser.add_argument("--baseline-clips", type=int, default=24,
                        help="clips the slow baseline decodes, spread over the video (default 24)")
    parser.add_argument("--repeats", type=int, default=2, help="best of N timings (default 2)")
    parser.add_argument("--cpu", type=int, default=None,
                        help="CPU core to pin to (default: the first one this process may use)")
    args = parser.parse_args(argv)

    import cv2
    import torch

    from ucf_nb.paths import resolve_path

    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    videos = _make_videos(resolve_path("build/bench"), args.seconds)

    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores visible, pinned to core {cpu}; "
          f"date: {_dt.date.today().isoformat()}")
    print(f"python {platform.python_version()}, opencv {cv2.__version__}, torch {torch.__version__}")
    print()
    print("| video (320x240, 30 fps, "
          f"{args.seconds} s) | clips | prototype loader clips/s | stream clips/s "
          "| speed-up | stream, uint8 only, clips/s | identical |")
    print("|---|---|---|---|---|---|---|")
    for label, path in videos.items():
        r = _bench_one(path, args.baseline_clips, args.repeats)
        print(f"| {label} | {r['clips']} | {r['baseline_cps']:.1f} (on {r['baseline_clips']} clips) "
              f"| {r['stream_cps']:.0f} | {r['stream_cps'] / r['baseline_cps']:.0f}x "
              f"| {r['stream_uint8_cps']:.0f} | {'yes' if r['identical'] else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
