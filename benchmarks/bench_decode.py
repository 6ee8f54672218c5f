"""Clip decoding speed: the sequential clip stream against the prototype's seek-per-frame loader.

Writes two generated 320x240, 30 fps, 60 s videos into ``build/bench/`` (kept between runs):
H.264 with a keyframe every 250 frames (B-frames on) and MPEG-4 part 2 with a keyframe
every 12. Both loaders read the same clips (clip_len 32, stride 16, T=8, the ``seed``
preprocessing at 224) on one pinned CPU core with one thread everywhere, and both produce
the same normalised float32 clips (checked, bit for bit, on every clip the baseline reads):

- baseline: the prototype's loader (:func:`prototype_clip`: open the file, one seek + read
  per sampled frame, resize, normalise in NumPy; :class:`ucf_nb.ClipDataset` gives the same
  clips), timed on ``--baseline-clips`` clips spread evenly over the video, because it is
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
import time
from pathlib import Path

import numpy as np

from machine import cpu_model  # benchmarks/machine.py (the script's folder is on sys.path)


def _make_videos(folder: Path, seconds: int) -> dict[str, Path]:
    from ucf_nb.demo.synthetic import write_synthetic_video

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

    from ucf_nb import clip_windows
    from ucf_nb.video.decode import probe_video

    n = probe_video(path, count_frames=True).n_frames
    w = clip_windows(n, clip_len=32, stride=16)
    return pd.DataFrame({"path": str(path), "start_frame": w[:, 0], "end_frame": w[:, 1], "y": 0})


_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def prototype_clip(path: str, start: int, end: int, T: int = 8, size: int = 224):
    """The prototype's loader, step for step: open the file, then for each sampled frame
    seek + read, BGR->RGB, squash-resize bilinearly; scale, normalise and move channels
    first in NumPy. Returns a float32 tensor (3, T, size, size)."""
    import cv2
    import torch

    from ucf_nb import uniform_sample_indices

    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise RuntimeError(f"cannot open {path}")
    frames = []
    for f in uniform_sample_indices(start, end, T).tolist():
        cap.set(cv2.CAP_PROP_POS_FRAMES, f)
        ok, bgr = cap.read()
        if not ok:
            raise RuntimeError(f"{path}: frame {f} did not decode")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        frames.append(cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR))
    cap.release()
    x = np.stack(frames).astype(np.float32) / 255.0
    x = (x - _IMAGENET_MEAN) / _IMAGENET_STD
    return torch.from_numpy(np.transpose(x, (3, 0, 1, 2)))


def _bench_one(path: Path, baseline_clips: int, repeats: int, batch_size: int = 16) -> dict:
    import torch

    from ucf_nb import ClipDataset, Preprocessing, VideoClipStream
    from ucf_nb.video.dataset import collate_clips

    df = _rows(path)
    pre = Preprocessing.seed(224)
    # baseline: clips spread evenly over the whole video (unbiased w.r.t. keyframe distance)
    pick = np.unique(np.linspace(0, len(df) - 1, min(baseline_clips, len(df))).round().astype(int))
    def run_baseline():
        out = {}
        t0 = time.perf_counter()
        for i in pick.tolist():
            out[i] = prototype_clip(str(path), int(df.start_frame[i]), int(df.end_frame[i]))
        return time.perf_counter() - t0, out

    def run_stream(normalize: bool):
        out = {}
        stream = VideoClipStream(df, T=8, preprocessing=pre, decode_threads=1)
        batch = []
        t0 = time.perf_counter()
        for item in stream:
            batch.append(item)
            if len(batch) == batch_size:
                _consume(collate_clips(batch), normalize, out)
                batch = []
        if batch:
            _consume(collate_clips(batch), normalize, out)
        return time.perf_counter() - t0, out

    def _consume(b, normalize, out):
        if normalize:
            x = pre.normalize(b["frames"])  # (B, T, 3, S, S) float32
            for r, clip in zip(b["row"].tolist(), x):
                out[r] = clip

    # interleaved repeats, best of each: load from other processes hits all three alike
    base_s = stream_s = uint8_s = float("inf")
    for _ in range(repeats):
        t, ref = run_baseline()
        base_s = min(base_s, t)
        t, got = run_stream(True)
        stream_s = min(stream_s, t)
        uint8_s = min(uint8_s, run_stream(False)[0])
    ds = ClipDataset(df, T=8, preprocessing=pre)  # the reference dataset: the same clips
    same = all(torch.equal(ds[i][0], ref[i]) for i in pick.tolist()[:4])
    same = same and all(torch.equal(got[int(i)].permute(1, 0, 2, 3), ref[i]) for i in pick.tolist())
    return {"clips": len(df), "baseline_clips": len(pick),
            "baseline_cps": len(pick) / base_s, "stream_cps": len(df) / stream_s,
            "stream_uint8_cps": len(df) / uint8_s, "identical": same}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="video length (default 60)")
    parser.add_argument("--baseline-clips", type=int, default=24,
                        help="clips the slow baseline decodes, spread over the video (default 24)")
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings (default 3)")
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

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores visible, pinned to core {cpu}; "
          f"date: {_dt.date.today().isoformat()}")
    print(f"python {platform.python_version()}, opencv {cv2.__version__}, torch {torch.__version__}")
    print()
    print(f"| video (320x240, 30 fps, {args.seconds} s) | clips | prototype loader, clips/s "
          "| stream (uint8, as workers ship it), clips/s | speed-up "
          "| stream + normalise on the CPU, clips/s | speed-up | identical |")
    print("|---|---|---|---|---|---|---|---|")
    for label, path in videos.items():
        r = _bench_one(path, args.baseline_clips, args.repeats)
        b = r["baseline_cps"]
        print(f"| {label} | {r['clips']} | {b:.1f} (on {r['baseline_clips']} clips) "
              f"| {r['stream_uint8_cps']:.0f} | {r['stream_uint8_cps'] / b:.0f}x "
              f"| {r['stream_cps']:.0f} | {r['stream_cps'] / b:.1f}x "
              f"| {'yes' if r['identical'] else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
