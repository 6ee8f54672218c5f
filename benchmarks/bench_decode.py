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

A second table (``--part limit``) sets the stream against FFmpeg's decode-only limit:
``ffmpeg -threads 1 -i VIDEO -f null -`` (decode every frame, convert, scale and write
nothing), CPU time of the child process (``resource.getrusage(RUSAGE_CHILDREN)``, user +
system), on ``--limit-videos`` generated 320x240, 30 fps H.264 videos of ``--limit-seconds``
(keyframe every 250, B-frames, each its own scene). The stream's CPU time
(``time.process_time``) covers building the ``VideoClipStream`` (its packet scan, with the
per-video cache emptied first) and making every uint8 clip, in this process on the same
pinned core; each clip is hashed (untimed) and dropped before the next one, as a DataLoader
drops it once collated (the per-process check of PyAV's colour conversion, see
``ucf_nb.video.decode``, is paid once per process, as in a DataLoader worker). "fraction of the
limit" is the stream's clips/s over the clips/s that decoding alone would allow, i.e.
FFmpeg's CPU seconds over the stream's. ``--against DIR`` times the stream of another
checkout (``PYTHONPATH=DIR``, in a child process that times itself the same way,
interleaved with the others) and checks, bit for bit, that both streams give the same
clips. ``--part breakdown`` times the stream's steps one by one on the first of these
videos. Both need ``ffmpeg`` on PATH (skipped, with a sentence, without it).

Run from the project root::

    python benchmarks/bench_decode.py                      # both tables
    python benchmarks/bench_decode.py --part limit --against /path/to/other/checkout
    python benchmarks/bench_decode.py --part breakdown     # where the stream's time goes
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
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

    n = _decode_module().probe_video(path, count_frames=True).n_frames
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
    return {
        "clips": len(df),
        "baseline_clips": len(pick),
        "baseline_cps": len(pick) / base_s,
        "stream_cps": len(df) / stream_s,
        "stream_uint8_cps": len(df) / uint8_s,
        "identical": same,
    }


def _limit_videos(folder: Path, seconds: int, n: int) -> list[Path]:
    """``n`` H.264 videos (320x240, 30 fps, keyframe every 250, B-frames), each with its own
    scene (seed) and a 400-frame event."""
    from ucf_nb.demo.synthetic import write_synthetic_video

    out = []
    for i in range(n):
        path = folder / f"{seconds}s_h264_gop250_{i}.mp4"
        if not path.exists():
            tmp = path.with_suffix(".tmp.mp4")
            write_synthetic_video(
                tmp,
                30 * seconds,
                fps=30,
                width=320,
                height=240,
                seed=i,
                events=[(600 * i + 300, 600 * i + 700)],
                codec="libx264",
                gop=250,
                bframes=2,
            )
            tmp.replace(path)
        out.append(path)
    return out


def ffmpeg_cpu_seconds(path: Path) -> float:
    """CPU seconds (user + system) of ``ffmpeg -threads 1 -i path -f null -``: FFmpeg's
    decode-only limit, in a child process on the caller's CPU affinity."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-threads",
            "1",
            "-i",
            str(path),
            "-f",
            "null",
            "-",
        ],
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _decode_module():
    """``ucf_nb.video.decode`` (``ucf_nb.video`` in checkouts before the stage folders, which
    ``--against`` may time)."""
    try:
        import ucf_nb.video.decode as mod
    except ImportError:
        import ucf_nb.video as mod
    return mod


def stream_cpu_seconds(df) -> tuple[float, dict[int, str]]:
    """CPU seconds of :class:`ucf_nb.VideoClipStream` over ``df`` (uint8 clips, as DataLoader
    workers make them): building the stream (its packet scan, with the per-video cache
    emptied first) and every ``next()``; and a SHA-1 of each clip (with its ``n_real``) by
    row, taken between the ``next()`` calls, untimed, after which the clip is dropped (as a
    DataLoader drops it once collated)."""
    from ucf_nb import Preprocessing, VideoClipStream

    _decode_module()._seek_is_exact_cached.cache_clear()
    hashes = {}
    clock = time.process_time
    t0 = clock()
    it = iter(VideoClipStream(df, T=8, preprocessing=Preprocessing.seed(224), decode_threads=1))
    t = clock() - t0
    while True:
        t0 = clock()
        item = next(it, None)
        t += clock() - t0
        if item is None:
            return t, hashes
        hashes[int(item["row"])] = hashlib.sha1(item["frames"].tobytes()).hexdigest() + f":{item['n_real']}"


def _time_stream_child(path: str) -> None:
    """``--time-stream``: one timed run of this interpreter's stream, as JSON on stdout."""
    t, hashes = stream_cpu_seconds(_rows(Path(path)))
    print(json.dumps({"cpu_s": t, "clips": hashes}))


def _other_stream(checkout: Path, path: Path, cpu: int) -> tuple[float, dict[int, str]]:
    env = dict(os.environ, PYTHONPATH=str(checkout), OMP_NUM_THREADS="1")
    r = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--time-stream", str(path), "--cpu", str(cpu)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(r.stdout.strip().splitlines()[-1])
    return got["cpu_s"], {int(k): v for k, v in got["clips"].items()}


def limit_table(args, cpu: int) -> None:
    """The stream against FFmpeg's decode-only limit (see the module docstring)."""
    from ucf_nb import ClipDataset, Preprocessing
    from ucf_nb.paths import resolve_path

    if shutil.which("ffmpeg") is None:
        print(
            "ffmpeg is not on PATH: the decode-only limit cannot be measured here (apt-get install "
            "ffmpeg); the limit table is skipped."
        )
        return
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True).stdout.split("\n")[0]
    videos = _limit_videos(resolve_path("build/bench"), args.limit_seconds, args.limit_videos)
    frames = {p: _rows(p) for p in videos}
    against = Path(args.against).resolve() if args.against else None
    print(f"{version}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    cols = (
        "| video (320x240, 30 fps) | clips | FFmpeg decode-only, CPU s | stream, CPU s "
        "| stream, clips/s | fraction of the limit |"
    )
    sep = "|---|---|---|---|---|---|"
    if against:
        cols += " other checkout's stream, CPU s | its fraction | speed-up | identical to it |"
        sep += "---|---|---|---|"
    print(cols + " identical to ClipDataset |")
    print(sep + "---|")
    tot = {"ff": 0.0, "ours": 0.0, "other": 0.0, "clips": 0}
    for path in videos:
        df = frames[path]
        best = {"ff": float("inf"), "ours": float("inf"), "other": float("inf")}
        same_other = True
        for _ in range(args.repeats):  # interleaved: load from other processes hits all alike
            best["ff"] = min(best["ff"], ffmpeg_cpu_seconds(path))
            t, ours = stream_cpu_seconds(df)
            best["ours"] = min(best["ours"], t)
            if against:
                t, theirs = _other_stream(against, path, cpu)
                best["other"] = min(best["other"], t)
                same_other = same_other and theirs == ours
        # the reference dataset (one verified seek per sampled frame) on clips spread over the video
        pre = Preprocessing.seed(224)
        ds = ClipDataset(df, T=8, preprocessing=pre)
        pick = np.unique(np.linspace(0, len(df) - 1, min(args.baseline_clips, len(df))).round().astype(int))
        same_ref = True
        for i in pick.tolist():
            item = ds.read_clip(i)
            ref = hashlib.sha1(item["frames"].tobytes()).hexdigest() + f":{item['n_real']}"
            same_ref = same_ref and ours[int(df.index[i])] == ref
        n = len(df)
        for k, v in best.items():
            tot[k] += v
        tot["clips"] += n
        row = (
            f"| {path.name} | {n} | {best['ff']:.3f} | {best['ours']:.3f} | {n / best['ours']:.0f} "
            f"| {best['ff'] / best['ours']:.2f} |"
        )
        if against:
            row += (
                f" {best['other']:.3f} | {best['ff'] / best['other']:.2f} | {best['other'] / best['ours']:.2f}x "
                f"| {'yes' if same_other else 'NO'} |"
            )
        print(row + f" {'yes' if same_ref else 'NO'} (on {len(pick)} clips) |", flush=True)
    row = (
        f"| all {len(videos)} | {tot['clips']} | {tot['ff']:.3f} | {tot['ours']:.3f} "
        f"| {tot['clips'] / tot['ours']:.0f} | {tot['ff'] / tot['ours']:.2f} |"
    )
    if against:
        row += f" {tot['other']:.3f} | {tot['ff'] / tot['other']:.2f} | {tot['other'] / tot['ours']:.2f}x | |"
    print(row + " |")
    print()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def breakdown_table(args) -> None:
    """Where the stream's time goes, on the first limit video: cumulative steps, each timed
    alone (CPU time, best of ``--repeats``, interleaved)."""
    import av
    import cv2

    from ucf_nb import Preprocessing, VideoClipStream
    from ucf_nb.paths import resolve_path

    video_mod = _decode_module()

    if shutil.which("ffmpeg") is None:
        print("ffmpeg is not on PATH: the breakdown is skipped.")
        return
    path = _limit_videos(resolve_path("build/bench"), args.limit_seconds, 1)[0]
    df = _rows(path)
    pre = Preprocessing.seed(224)
    numbering = video_mod.frame_numbering(path)
    wanted = np.unique(VideoClipStream(df, T=8, preprocessing=pre).segments[0].ids)
    wanted_set = set(wanted.tolist())

    def opencv_grab_all():
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        while cap.grab():
            pass
        cap.release()

    def skipping_decode_only():  # the skipping reader's decode loop, without conversion
        p0, tb, fps = numbering
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            cc = stream.codec_context
            cc.thread_count = 1
            mode = None
            for packet in container.demux(stream):
                pts = packet.pts
                want = (
                    "DEFAULT"
                    if pts is None or not packet.size or round((pts - p0) * tb * fps) in wanted_set
                    else "NONREF"
                )
                if want != mode:
                    cc.skip_frame = mode = want
                cc.decode(packet)

    def reader(resize: bool):
        out = np.empty((224, 224, 3), dtype=np.uint8)
        state = video_mod.DecodeState()
        for _, rgb in video_mod._decode_skipping(
            path, wanted, numbering, seek=False, color="rgb", decode_threads=1, state=state
        ):
            if resize:
                pre.spatial_frame(rgb, out=out)

    steps = {
        "FFmpeg decode-only (`ffmpeg -threads 1 -f null`)": None,
        "OpenCV `grab()` of every frame (decode only)": opencv_grab_all,
        "PyAV decode, unsampled non-reference frames skipped": skipping_decode_only,
        "+ conversion of the sampled frames to RGB (the skipping reader)": lambda: reader(False),
        "+ resize of the sampled frames into a slot": lambda: reader(True),
        "the stream (plan, packet scan, clips)": None,
    }
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(args.repeats):
        for i, (name, fn) in enumerate(steps.items()):
            if fn is None:  # these two time themselves
                t = ffmpeg_cpu_seconds(path) if i == 0 else stream_cpu_seconds(df)[0]
            else:
                t0 = time.process_time()
                fn()
                t = time.process_time() - t0
            best[name] = min(best[name], t)
    ff = next(iter(best.values()))
    print(
        f"{path.name}: {len(df)} clips, {len(wanted)} sampled frames; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print()
    print("| step | CPU s | FFmpeg's CPU s / this |")
    print("|---|---|---|")
    for name, t in best.items():
        print(f"| {name} | {t:.3f} | {ff / t:.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="video length (default 60)")
    parser.add_argument(
        "--baseline-clips",
        type=int,
        default=24,
        help="clips the slow baseline decodes, spread over the video (default 24)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings (default 3)")
    parser.add_argument(
        "--cpu", type=int, default=None, help="CPU core to pin to (default: the first one this process may use)"
    )
    parser.add_argument(
        "--part",
        choices=("all", "prototype", "limit", "breakdown"),
        default="all",
        help="the table against the prototype's loader, the one against FFmpeg's "
        "decode-only limit, both (default), or where the stream's time goes",
    )
    parser.add_argument(
        "--limit-seconds", type=int, default=120, help="length of the limit table's videos (default 120)"
    )
    parser.add_argument("--limit-videos", type=int, default=4, help="how many (default 4)")
    parser.add_argument(
        "--against", default=None, help="another checkout whose stream the limit table times side by side"
    )
    parser.add_argument("--time-stream", default=None, help=argparse.SUPPRESS)  # the child of --against
    args = parser.parse_args(argv)

    import cv2
    import torch

    from ucf_nb.paths import resolve_path

    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    if args.time_stream:
        _time_stream_child(args.time_stream)
        return
    import av

    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores visible, pinned to core {cpu}; "
        f"date: {_dt.date.today().isoformat()}"
    )
    print(
        f"python {platform.python_version()}, opencv {cv2.__version__}, PyAV {av.__version__}, "
        f"torch {torch.__version__}"
    )
    print()
    if args.part == "breakdown":
        breakdown_table(args)
        return
    if args.part in ("all", "limit"):
        limit_table(args, cpu)
        print()
    if args.part == "limit":
        return
    videos = _make_videos(resolve_path("build/bench"), args.seconds)
    print(
        f"| video (320x240, 30 fps, {args.seconds} s) | clips | prototype loader, clips/s "
        "| stream (uint8, as workers ship it), clips/s | speed-up "
        "| stream + normalise on the CPU, clips/s | speed-up | identical |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, path in videos.items():
        r = _bench_one(path, args.baseline_clips, args.repeats)
        b = r["baseline_cps"]
        print(
            f"| {label} | {r['clips']} | {b:.1f} (on {r['baseline_clips']} clips) "
            f"| {r['stream_uint8_cps']:.0f} | {r['stream_uint8_cps'] / b:.0f}x "
            f"| {r['stream_cps']:.0f} | {r['stream_cps'] / b:.1f}x "
            f"| {'yes' if r['identical'] else 'NO'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
