"""The real run on one GPU: TimeSformer-base end to end, ucf_nb against the prototype, in one run.

On UCF-Crime-shaped H.264 videos (320x240, 30 fps, a keyframe every 250 frames, B-frames;
made beforehand with ``--make-videos``, because the GPU machine has no PyAV) and a real-size
random ``TimesformerConfig()`` (hidden 768, 12 layers, 12 heads, T=8, 224x224; saved with
``save_pretrained`` here, since no weights can be downloaded there and speed does not depend
on them), clip_len 32, stride 16, the ``seed`` preprocessing (squash to 224, ImageNet stats):

(a) prototype: its pipeline as it ran: map-style dataset with one seek + read per sampled
    frame (:class:`ucf_nb.ClipDataset`), normalised on the CPU in the workers,
    ``DataLoader(batch_size=16, num_workers=--prototype-workers, pin_memory=True)``, the
    model in fp32 with transformers' eager attention, the CLS token into a float16 memmap;
    it runs for ``--seconds`` on clips spread evenly over the videos;
(b) ucf_nb eager, (c) ucf_nb SDPA, (d) ucf_nb SDPA + ``torch.compile``: ``extract_split``
    as a user calls it (``precision="auto"``: bf16 on a GPU with bf16; ``batch_size`` and
    ``num_workers`` as given, default "auto"), on enough clips for about ``--seconds`` at
    the rate the model allows.

For each: clips/s end to end (wall time of the call, model loading and compiling included),
clips/s of the loop (from the first batch asked of the DataLoader to the last one written)
and the GPU's mean utilisation during the loop (``torch.cuda.utilization``, else
``nvidia-smi``); and the model-only ceiling of each variant (normalisation + forward pass on
random uint8 batches already on the GPU). Decoding alone is measured on one core (the
extraction stream, uint8, as workers ship it) to say how many cores a target rate needs.

Commands (from the project root; nothing to install on the GPU machine)::

    python benchmarks/bench_gpu.py --make-videos build/bench_gpu/videos      # here (needs PyAV)
    PYTHONPATH=. python benchmarks/bench_gpu.py --videos build/bench_gpu/videos --out bench_gpu.md
    PYTHONPATH=. python benchmarks/bench_gpu.py --smoke --videos DIR           # tiny model, CPU, seconds

The table goes to stdout and to ``--out``; ``--write-readme`` also puts it into
benchmarks/README.md between the ``gpu`` markers.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP_LEN, STRIDE, T, SIZE = 32, 16, 8, 224


# ------------------------------------------------------------------------------------ videos


def _grainy_frame(k: int, width: int, height: int, *, seed: int = 0, event: bool = False):
    """A synthetic scene (``ucf_nb.demo.synthetic.synthetic_frame``) plus per-frame sensor grain
    (Gaussian, sigma 5 grey levels), so that H.264 spends about as many bits on it as on
    UCF-Crime's footage (1-2 MB per minute) instead of the few kB a static scene costs."""
    import numpy as np

    from ucf_nb.demo.synthetic import synthetic_frame

    f = synthetic_frame(k, width, height, seed=seed, event=event).astype(np.int16)
    f += np.random.default_rng((seed, k)).normal(0, 5.0, size=(height, width, 1)).astype(np.int16)
    return np.clip(f, 0, 255).astype(np.uint8)


def make_videos(folder: str | os.PathLike, *, minutes: float = 4.0, seconds_each: int = 60) -> list[Path]:
    """Write UCF-Crime-shaped H.264 videos into ``folder`` (needs PyAV): 320x240, 30 fps,
    keyframe every 250 frames (no scene-cut keyframes), 2 B-frames, crf 23, ``seconds_each``
    seconds each, ``minutes`` in all. Existing files are kept. Returns their paths."""
    from ucf_nb.demo.synthetic import write_synthetic_video

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_videos = max(1, round(minutes * 60 / seconds_each))
    n = 30 * seconds_each
    out = []
    for v in range(n_videos):
        path = folder / f"bench_{seconds_each}s_{v:02d}_x264.mp4"
        if not path.exists():
            tmp = path.with_suffix(".tmp.mp4")
            write_synthetic_video(
                tmp,
                n,
                fps=30,
                width=320,
                height=240,
                seed=v,
                codec="libx264",
                gop=250,
                bframes=2,
                crf=23,
                frame_fn=_grainy_frame,
                events=[(n // 3, n // 2)] if v % 2 else [],
            )
            tmp.replace(path)
        out.append(path)
    return out


def _videos_in(folder: Path) -> list[Path]:
    vids = sorted(p for p in folder.glob("*.mp4") if ".tmp." not in p.name)
    if not vids:
        raise SystemExit(
            f"no .mp4 videos in {folder}: make them first with "
            f"`python benchmarks/bench_gpu.py --make-videos {folder}` (needs PyAV) and carry them"
        )
    return vids


def _make_index(videos: list[Path], n_frames: dict[str, int], work: Path, copies: int) -> tuple[Path, int]:
    """``copies`` hard links (or copies) of each video under new names and an index of all
    their clips; returns (index path, number of clips)."""
    import numpy as np
    import pandas as pd

    from ucf_nb import clip_windows

    vdir = work / "videos"
    if vdir.exists():
        shutil.rmtree(vdir)
    vdir.mkdir(parents=True)
    recs = []
    for src in videos:
        n = n_frames[str(src)]
        w = clip_windows(n, CLIP_LEN, STRIDE)
        for c in range(copies):
            dst = vdir / f"c{c:03d}_{src.name}"
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
            recs.append(
                pd.DataFrame(
                    dict(
                        split="train",
                        y=0,
                        category="Normal",
                        path=str(dst),
                        clip_idx=np.arange(len(w)),
                        start_frame=w[:, 0],
                        end_frame=w[:, 1],
                        clip_len=CLIP_LEN,
                        stride=STRIDE,
                        fps=30.0,
                        n_frames=n,
                        video=dst.name,
                        anomaly_frac=np.nan,
                    )
                )
            )
    df = pd.concat(recs, ignore_index=True)
    # interleave the copies video by video, so that any prefix (extract_split's limit) spans all sources
    df["_copy"] = df["video"].str.slice(1, 4).astype(int)
    df = df.sort_values(["_copy", "path", "clip_idx"], kind="stable").drop(columns="_copy").reset_index(drop=True)
    index = work / "index.csv"
    df.to_csv(index, index=False)
    return index, len(df)


# --------------------------------------------------------------------------------- measures


class GpuSampler:
    """Samples the GPU's utilisation (percent) every ``period`` seconds in a thread."""

    def __init__(self, period: float = 0.2):
        self.period, self.samples, self.source = period, [], None
        self._stop = threading.Event()
        self._thread = None

    def _read(self):
        import torch

        if self.source in (None, "torch"):
            try:
                u = float(torch.cuda.utilization())
                self.source = "torch.cuda.utilization"
                return u
            except Exception:  # noqa: BLE001 - no pynvml: try nvidia-smi
                self.source = "nvidia-smi"
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout
            return float(out.strip().splitlines()[0])
        except Exception:  # noqa: BLE001
            self.source = "unavailable"
            return None

    def _loop(self):
        while not self._stop.is_set():
            u = self._read()
            if u is None and self.source == "unavailable":
                return
            if u is not None:
                self.samples.append((time.perf_counter(), u))
            self._stop.wait(self.period)

    def __enter__(self):
        import torch

        if torch.cuda.is_available():
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def mean(self, t0: float, t1: float):
        vals = [u for t, u in self.samples if t0 <= t <= t1]
        return sum(vals) / len(vals) if vals else None


def decode_rate_one_core(videos: list[Path], seconds: float = 4.0) -> tuple[float, dict[str, int], float]:
    """Clips/s of the extraction stream (decode + resize to 224, uint8) on ONE core over the
    first video, every video's frame count, and clips per CPU-second (what a dedicated core
    gives, also on a machine busy with other jobs), in a fresh process (OpenCV must not be
    used in this one before DataLoader workers fork)."""
    code = f"""
import json, os, sys, time
sys.path.insert(0, {str(ROOT)!r})
os.sched_setaffinity(0, {{min(os.sched_getaffinity(0))}})
import cv2, torch
cv2.setNumThreads(1); torch.set_num_threads(1)
import pandas as pd
from ucf_nb import VideoClipStream, Preprocessing, clip_windows, probe_video
frames = {{v: probe_video(v).n_frames for v in {[str(v) for v in videos]!r}}}
p = {str(videos[0])!r}
w = clip_windows(frames[p], {CLIP_LEN}, {STRIDE})
df = pd.DataFrame(dict(path=p, start_frame=w[:, 0], end_frame=w[:, 1], y=0))
best = best_cpu = 0.0; t_all = time.perf_counter()
while time.perf_counter() - t_all < {seconds} or best == 0.0:  # whole passes; the best one counts
    n = 0; t0 = time.perf_counter(); c0 = time.process_time()
    for item in VideoClipStream(df, T={T}, preprocessing=Preprocessing.seed({SIZE}), decode_threads=1):
        n += 1
    best = max(best, n / (time.perf_counter() - t0))
    best_cpu = max(best_cpu, n / max(1e-9, time.process_time() - c0))
print(json.dumps(dict(rate=best, cpu_rate=best_cpu, frames=frames)))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    if out.returncode != 0:
        raise RuntimeError(f"decode measurement failed: {out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return float(res["rate"]), {k: int(v) for k, v in res["frames"].items()}, float(res["cpu_rate"])


def loader_rate(index: Path, *, workers: int, batch: int, clips: int) -> tuple[float, float, float]:
    """What the data side alone delivers: ``VideoClipStream`` through a DataLoader with
    ``workers`` workers and ``collate_clips`` (decode, resize, collate, hand-over), the main
    process only taking the batches. Returns (clips/s from the first batch asked for to the
    last received, clips per CPU-second of the workers, CPU-seconds of the main process per
    clip)."""
    import resource

    import pandas as pd
    from torch.utils.data import DataLoader

    from ucf_nb import Preprocessing, VideoClipStream
    from ucf_nb.video.dataset import collate_clips

    df = pd.read_csv(index).iloc[:clips]
    loader = DataLoader(
        VideoClipStream(df, T=T, preprocessing=Preprocessing.seed(SIZE), on_error="skip"),
        batch_size=batch,
        num_workers=workers,
        collate_fn=collate_clips,
    )
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    it = iter(loader)
    for b in it:
        n += len(b["row"])
    wall, main_cpu = time.perf_counter() - t0, time.process_time() - c0
    del it  # joins the workers, so that their CPU time is counted below
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    return n / wall, (n / worker_cpu if worker_cpu > 0 else float("nan")), main_cpu / max(1, n)


def decode_only(videos: list[Path], work: Path, *, target: float, workers: int, batch: int, seconds: float) -> str:
    """``--decode-only``: decoding per core on the benchmark videos, and what a target rate needs."""
    runs = [decode_rate_one_core([v], seconds=seconds) for v in videos]
    n_frames = {k: v for r in runs for k, v in r[1].items()}
    index, n_index = _make_index(videos, n_frames, work, 1)
    lr, lr_cpu, main_cpu = loader_rate(index, workers=workers, batch=batch, clips=n_index)
    wall = [r[0] for r in runs]
    cpu = [r[2] for r in runs]
    mean_cpu = sum(cpu) / len(cpu)
    lines = [
        f"Machine: {_machine('cpu')}; load average {os.getloadavg()[0]:.1f} (other jobs). "
        f"Date: {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}.",
        "",
        f"- Decoding on one core (extraction stream: decode, convert, resize to uint8 {SIZE}x{SIZE}), best pass "
        f"per video, clips per CPU-second (= clips/s of a dedicated core): "
        + ", ".join(f"{r:.0f}" for r in cpu)
        + f" (mean {mean_cpu:.0f}); wall-clock on this busy machine: "
        + ", ".join(f"{r:.0f}" for r in wall)
        + " clips/s.",
        f"- Through a DataLoader ({workers} worker(s), batches of {batch}, {n_index} clips; decode + collate + "
        f"hand-over, the main process only receiving): {lr_cpu:.0f} clips per worker CPU-second "
        f"({lr:.0f} clips/s wall); the main process spent {1e3 * main_cpu:.2f} ms of CPU per clip receiving.",
        f"- So {target:.0f} clips/s needs about {target / lr_cpu:.1f} decode cores (workers) plus the main "
        f"process (receiving, pinning, copying to the GPU, writing the store).",
    ]
    return "\n".join(lines)


def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def model_only(
    ckpt: Path, *, attention: str, compile: bool, batch: int, device: str, precision: str, seconds: float
) -> dict:
    """Normalisation + forward pass on random uint8 batches already on the device: the ceiling."""
    import torch

    from ucf_nb import Preprocessing
    from ucf_nb.encoders import load_encoder

    enc = load_encoder(ckpt, device=device, precision=precision, attention=attention, compile=compile)
    prep = Preprocessing.seed(SIZE)
    u = torch.randint(
        0, 256, (batch, T, SIZE, SIZE, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    ).to(enc.device)
    t0 = time.perf_counter()
    enc.embed(prep.normalize(u))  # warm-up (and the compile)
    first = time.perf_counter() - t0
    enc.embed(prep.normalize(u))
    _sync(enc.device)
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < seconds:
        enc.embed(prep.normalize(u))
        n += 1
    dt = time.perf_counter() - t0
    out = dict(
        rate=n * batch / dt,
        first_call_s=first,
        attention=enc.info["attention"],
        compile=enc.info["compile"],
        precision=enc.info["precision"],
    )
    del enc
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def prototype(
    index: Path,
    ckpt: Path,
    out: Path,
    *,
    workers: int,
    seconds: float,
    device: str,
    sampler: GpuSampler,
    max_clips: int = 20000,
) -> dict:
    """The prototype's pipeline (see the module docstring) for ``seconds``; wall time includes
    loading the model and starting the workers."""
    import numpy as np
    import pandas as pd
    import torch
    from torch.utils.data import DataLoader
    from transformers import AutoModel

    from ucf_nb import ClipDataset, Preprocessing

    df = pd.read_csv(index)
    rows = df.iloc[np.unique(np.linspace(0, len(df) - 1, min(max_clips, len(df))).round().astype(int))]
    dev = torch.device(device)
    t_call = time.perf_counter()
    model = AutoModel.from_pretrained(ckpt).eval().to(dev)  # fp32, transformers' eager attention
    model.requires_grad_(False)
    loader = DataLoader(
        ClipDataset(rows, T=T, preprocessing=Preprocessing.seed(SIZE)),
        batch_size=16,
        shuffle=False,
        num_workers=workers,
        pin_memory=dev.type == "cuda",
    )
    X = np.lib.format.open_memmap(out, mode="w+", dtype=np.float16, shape=(len(rows), model.config.hidden_size))
    at = 0
    t_loop = time.perf_counter()
    it = iter(loader)
    with torch.no_grad():
        for clips, _labels in it:  # (B, 3, T, S, S)
            pixel_values = clips.to(dev).permute(0, 2, 1, 3, 4)
            cls = model(pixel_values=pixel_values).last_hidden_state[:, 0]
            X[at : at + len(cls)] = cls.cpu().numpy().astype(np.float16)
            at += len(cls)
            if time.perf_counter() - t_loop > seconds:
                break
    t_end = time.perf_counter()
    del it, loader
    X.flush()
    del X, model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return dict(
        clips=at,
        wall=t_end - t_call,
        loop=t_end - t_loop,
        util=sampler.mean(t_loop, t_end),
        batch_size=16,
        num_workers=workers,
        attention="eager",
        compile=False,
        precision="fp32",
    )


def ours(
    index: Path,
    ckpt: Path,
    out_dir: Path,
    *,
    limit: int,
    attention: str,
    compile: bool,
    batch_size,
    num_workers,
    device: str,
    precision: str,
    sampler: GpuSampler,
) -> dict:
    """``extract_split`` as a user calls it, on the first ``limit`` clips of the index."""
    import warnings

    from ucf_nb import extract_split

    shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        r = extract_split(
            "train",
            index,
            out_dir=out_dir,
            checkpoint=ckpt,
            T=T,
            img_size=SIZE,
            batch_size=batch_size,
            num_workers=num_workers,
            device=device,
            precision=precision,
            preprocessing="seed",
            resume=False,
            limit=limit,
            attention=attention,
            compile=compile,
            progress=False,
        )
    t1 = time.perf_counter()
    loop = float(r["seconds"])
    return dict(
        clips=int(r["n_embedded"]),
        wall=t1 - t0,
        loop=loop,
        util=sampler.mean(t1 - loop, t1),
        batch_size=r["batch_size"],
        num_workers=r["num_workers"],
        attention=r["attention"],
        compile=r["compile"],
        precision=r["precision"],
        n_failed=r["n_failed"],
        warnings=[str(w.message)[:300] for w in caught if "compile" in str(w.message)],
    )


def write_checkpoint(folder: Path, smoke: bool) -> Path:
    """A random TimeSformer saved with save_pretrained (real size, or tiny for --smoke)."""
    import torch
    from transformers import TimesformerConfig, TimesformerModel

    cfg = (
        TimesformerConfig(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            image_size=SIZE,
            patch_size=32,
            num_frames=T,
        )
        if smoke
        else TimesformerConfig()
    )
    if (folder / "config.json").exists():
        old = json.loads((folder / "config.json").read_text())
        if old.get("hidden_size") == cfg.hidden_size and old.get("num_hidden_layers") == cfg.num_hidden_layers:
            return folder
        shutil.rmtree(folder)
    torch.manual_seed(0)
    TimesformerModel(cfg).save_pretrained(folder, safe_serialization=True)
    return folder


# ------------------------------------------------------------------------------------ main


def _machine(device: str) -> str:
    import torch
    import transformers

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import cpu_model  # benchmarks/machine.py

    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "no GPU (CPU run)"
    shm = shutil.disk_usage("/dev/shm").total / 2**30 if os.path.isdir("/dev/shm") else float("nan")
    return (
        f"{gpu}; {cpu_model()}, {len(os.sched_getaffinity(0))} CPU cores usable, /dev/shm {shm:.0f} GiB; "
        f"python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}"
    )


def _fmt(x, nd=1, suffix=""):
    return "n/a" if x is None else f"{x:.{nd}f}{suffix}"


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--make-videos", metavar="DIR", help="write the benchmark videos into DIR (needs PyAV) and stop")
    p.add_argument("--minutes", type=float, default=4.0, help="--make-videos: minutes of video in all (default 4)")
    p.add_argument("--video-seconds", type=int, default=60, help="--make-videos: seconds per video (default 60)")
    p.add_argument("--videos", default="build/bench_gpu/videos", help="folder of benchmark .mp4 videos")
    p.add_argument("--work", default="build/bench_gpu/work", help="scratch folder (links, index, outputs)")
    p.add_argument("--seconds", type=float, default=25.0, help="target seconds per pipeline (default 25)")
    p.add_argument("--workers", default="auto", help="ucf_nb num_workers (default 'auto')")
    p.add_argument(
        "--prototype-workers",
        type=int,
        default=None,
        help="DataLoader workers of the prototype (default: the prototype's 8, at most the CPU count)",
    )
    p.add_argument("--batch-size", default="auto", help="ucf_nb batch_size (default 'auto')")
    p.add_argument("--device", default="auto", help="'auto', 'cuda' or 'cpu'")
    p.add_argument("--target", type=float, default=500.0, help="clips/s target (default 500)")
    p.add_argument("--budget", type=float, default=330.0, help="skip later pipelines past this many seconds")
    p.add_argument("--skip", default="", help="comma-separated pipelines to skip: a,b,c,d")
    p.add_argument("--smoke", action="store_true", help="tiny model on the CPU, a few seconds per pipeline")
    p.add_argument(
        "--decode-only",
        action="store_true",
        help="only measure decoding per core and a DataLoader's rate on the videos, then stop",
    )
    p.add_argument("--out", default=None, help="also write the markdown table to this file")
    p.add_argument("--write-readme", action="store_true", help="put the table into benchmarks/README.md")
    args = p.parse_args(argv)

    if args.make_videos:
        vids = make_videos(args.make_videos, minutes=args.minutes, seconds_each=args.video_seconds)
        mb = sum(v.stat().st_size for v in vids) / 1e6
        print(
            f"{len(vids)} videos, {mb:.1f} MB ({mb / (len(vids) * args.video_seconds / 60):.2f} MB per minute) "
            f"in {args.make_videos}"
        )
        return ""

    import torch

    t_start = time.perf_counter()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.smoke:
        import functools

        device = "cpu" if args.device == "auto" else device
        args.seconds = min(args.seconds, 2.0)
        args.budget = float("inf")
        # inductor's C++ compile of even a tiny model takes minutes on a small CPU: the smoke run
        # traces with dynamo and runs the captured graphs eagerly (the same code path otherwise)
        torch.compile = functools.partial(torch.compile, backend="eager")
    workers = args.workers if args.workers == "auto" else int(args.workers)
    batch = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    ncpu = len(os.sched_getaffinity(0))
    proto_workers = args.prototype_workers if args.prototype_workers is not None else min(8, ncpu)
    skip = set(filter(None, args.skip.split(",")))
    precision = "auto"

    def resolve(path: str) -> Path:
        return Path(path) if os.path.isabs(path) else ROOT / path

    work = resolve(args.work)
    work.mkdir(parents=True, exist_ok=True)
    videos = _videos_in(resolve(args.videos))

    def say(msg: str) -> None:  # progress on stderr as it happens: a run cut short still tells
        print(f"[{time.perf_counter() - t_start:6.1f} s] {msg}", file=sys.stderr, flush=True)

    say(_machine(device))
    if os.path.isdir("/dev/shm") and shutil.disk_usage("/dev/shm").total < 4 * 2**30:
        say(
            "warning: /dev/shm is under 4 GiB; DataLoader workers hand batches over through it "
            "(pass --workers/--batch-size smaller if they die with 'No space left on device' or a bus error)"
        )
    if args.decode_only:
        text = decode_only(
            videos,
            work,
            target=args.target,
            workers=1 if workers == "auto" else workers,
            batch=16 if batch == "auto" else batch,
            seconds=4.0,
        )
        print(text)
        if args.out:
            Path(args.out).write_text(text + "\n")
        return text
    ckpt = write_checkpoint(work / ("tiny_timesformer" if args.smoke else "timesformer_base_random"), args.smoke)

    from ucf_nb.encoders import load_encoder
    from ucf_nb.extract.split import auto_batch_size, auto_num_workers

    # the sizes 'auto' picks here, for the model-only runs and the clip counts
    probe_enc = load_encoder(ckpt, device=device, precision=precision)
    from ucf_nb import Preprocessing

    eff_batch = auto_batch_size(probe_enc, Preprocessing.seed(SIZE), T) if batch == "auto" else batch
    eff_workers = auto_num_workers(probe_enc.device) if workers == "auto" else workers
    prec_name = probe_enc.info["precision"]
    del probe_enc

    say(f"auto sizes: batch {eff_batch}, workers {eff_workers}, precision {prec_name}")
    decode, n_frames, decode_cpu = decode_rate_one_core(videos, seconds=1.0 if args.smoke else 4.0)
    say(f"decode: {decode:.0f} clips/s wall, {decode_cpu:.0f} clips per CPU-second on one core")
    variants = {"b": ("eager", False), "c": ("sdpa", False), "d": ("sdpa", True)}
    ceiling = {}
    for key, (attn, comp) in variants.items():
        if key in skip:
            continue
        ceiling[key] = model_only(
            ckpt,
            attention=attn,
            compile=comp,
            batch=eff_batch,
            device=device,
            precision=precision,
            seconds=1.0 if args.smoke else 4.0,
        )
        say(f"model only ({key}): {ceiling[key]}")
    ceiling_proto = None
    if "a" not in skip:
        ceiling_proto = model_only(
            ckpt,
            attention="eager",
            compile=False,
            batch=16,
            device=device,
            precision="fp32",
            seconds=1.0 if args.smoke else 3.0,
        )
        say(f"model only (a): {ceiling_proto}")

    # enough copies of the videos for the fastest pipeline to run about --seconds
    clips_per_copy = sum(max(0, (n - CLIP_LEN) // STRIDE + 1) for n in n_frames.values())
    est = {k: min(c["rate"], decode * max(1, eff_workers)) for k, c in ceiling.items()}
    want = {k: max(4 * eff_batch, int(r * args.seconds)) for k, r in est.items()}
    need = max(want.values(), default=1000)
    copies = max(1, math.ceil(need / max(1, clips_per_copy)))
    index, n_index = _make_index(videos, n_frames, work, copies)
    say(f"index: {n_index} clips ({copies} copies); clips per ucf_nb run: {want}")

    results: dict[str, dict] = {}
    notes = []
    with GpuSampler() as sampler:
        if "a" not in skip:
            results["a"] = prototype(
                index,
                ckpt,
                work / "prototype_emb.npy",
                workers=proto_workers,
                seconds=args.seconds,
                device=device,
                sampler=sampler,
            )
            say(f"(a): {results['a']}")
        for key, (attn, comp) in variants.items():
            if key in skip:
                continue
            if time.perf_counter() - t_start > args.budget:
                notes.append(f"({key}) skipped: past the --budget of {args.budget:.0f} s")
                continue
            results[key] = ours(
                index,
                ckpt,
                work / f"out_{key}",
                limit=min(n_index, want[key]),
                attention=attn,
                compile=comp,
                batch_size=batch,
                num_workers=workers,
                device=device,
                precision=precision,
                sampler=sampler,
            )
            say(f"({key}): {results[key]}")
        util_source = sampler.source

    # ------------------------------------------------------------------ the table
    labels = {
        "a": "(a) prototype: seek per frame, fp32, eager",
        "b": "(b) ucf_nb, eager attention",
        "c": "(c) ucf_nb, SDPA",
        "d": "(d) ucf_nb, SDPA + torch.compile",
    }
    date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    cmd = "python benchmarks/bench_gpu.py " + " ".join(sys.argv[1:] if argv is None else argv)
    model_name = (
        "tiny TimeSformer (64 wide, 2 layers, 32-px patches; --smoke: torch.compile with dynamo's "
        "'eager' backend, no inductor)"
        if args.smoke
        else "TimesformerConfig() (real size: 768 wide, 12 layers, 12 heads; random weights)"
    )
    mb = sum(v.stat().st_size for v in videos) / 1e6
    lines = [
        f"Machine: {_machine(device)}. Date: {date}. Command: `{cmd.strip()}`.",
        "",
        f"Model: {model_name}, T={T}, {SIZE}x{SIZE}, clip_len {CLIP_LEN}, stride {STRIDE}, `seed` "
        f"preprocessing. Videos: {len(videos)} H.264 files ({mb:.1f} MB, 320x240, 30 fps, keyframe every 250), "
        f"linked {copies}x under new names ({n_index} clips). ucf_nb: precision auto ({prec_name}), "
        f"batch_size {batch} -> {eff_batch}, num_workers {workers} -> {eff_workers}; prototype: batch 16, "
        f"{proto_workers} workers, fp32. GPU utilisation: mean over each loop "
        f"({util_source or 'not sampled: no GPU'}).",
        "",
        "| pipeline | attention | precision | compile | batch | workers | clips | wall s | clips/s end to end "
        "| clips/s loop | model-only clips/s | GPU util % | vs (a), end to end |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = results.get("a")
    base_rate = base["clips"] / base["wall"] if base and base["clips"] else None
    for key in ("a", "b", "c", "d"):
        r = results.get(key)
        if r is None:
            continue
        ceil = ceiling_proto if key == "a" else ceiling.get(key)
        e2e = r["clips"] / r["wall"] if r["wall"] > 0 else None
        loop = r["clips"] / r["loop"] if r["loop"] > 0 else None
        vs = f"{e2e / base_rate:.1f}x" if base_rate and e2e else "n/a"
        lines.append(
            f"| {labels[key]} | {r['attention']} | {r['precision']} | {r['compile']} | {r['batch_size']} | "
            f"{r['num_workers']} | {r['clips']} | {r['wall']:.1f} | {_fmt(e2e)} | {_fmt(loop)} | "
            f"{_fmt(ceil['rate'] if ceil else None)} | {_fmt(r['util'], 0)} | {vs} |"
        )
    lines.append("")
    cores = args.target / decode_cpu
    lines.append(
        f"Decoding alone (extraction stream, uint8 224x224, one core, first video): {decode:.0f} clips/s "
        f"wall, {decode_cpu:.0f} clips per CPU-second, so {args.target:.0f} clips/s needs about {cores:.1f} "
        f"decode cores (+1 for the main process: transfer, store); this machine has {ncpu}."
    )
    if "d" in ceiling:
        lines.append(
            f"torch.compile: first call (compile) {ceiling['d']['first_call_s']:.1f} s in the model-only run; "
            f"the (d) wall time includes its own compile (warm cache)."
        )
    for key in ("b", "c", "d"):
        for w in results.get(key, {}).get("warnings", []):
            lines.append(f"({key}) warning: {w}")
    lines += notes
    lines.append(f"Total benchmark time: {time.perf_counter() - t_start:.0f} s.")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.write_readme:
        _write_readme(text)
    return text


def _write_readme(body: str) -> None:
    from machine import write_readme_block  # benchmarks/machine.py

    write_readme_block("gpu", body)


if __name__ == "__main__":
    main()
