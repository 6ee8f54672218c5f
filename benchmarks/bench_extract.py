"""End-to-end extraction speed: ``ucf_nb.extract_split`` against the prototype's pipeline.

Both pipelines embed clips (clip_len 32, stride 16, T=8, 224x224, the ``seed``
preprocessing the prototype used) of the same generated 320x240, 30 fps H.264 videos
(keyframe every 250 frames, B-frames on, like UCF-Crime's ``*_x264.mp4``), with the same
model, batches of 16 and ONE DataLoader worker each:

- prototype: a map-style dataset with one seek + read per sampled frame
  (:class:`ucf_nb.ClipDataset`), a ``DataLoader(num_workers=1)``, the model in fp32, the CLS
  token written into a float16 memmap. It is slow, so it runs on ``--prototype-clips``
  clips spread evenly over the videos (a clip's cost depends on where it sits between
  keyframes, so an even spread gives the average rate);
- ucf_nb: ``extract_split(..., num_workers=1)`` over every clip (each video decoded once),
  with ``precision="auto"`` and ``precision="fp32"``.

Times are wall-clock from the call to the finished arrays (model loading included), as a
user sees them. The model is the tiny demo encoder (``make_demo_encoder``, random weights,
224x224 input): the benchmark measures the pipeline, not a big model's arithmetic.

It also reports how far bf16-autocast embeddings are from fp32 ones (cosine similarity per
clip): for the tiny encoder over every clip, and for a real-size ``TimesformerConfig()``
(random weights; no hub access here) on ``--real-size-clips`` clips.

With CUDA available it also runs the real-size ``TimesformerConfig()`` model through
``extract_split`` on the GPU (``--gpu-workers`` decode workers) and reports clips/s.

Run from the project root::

    python benchmarks/bench_extract.py                 # print the results table
    python benchmarks/bench_extract.py --write-readme  # and put it into benchmarks/README.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from machine import cpu_model  # benchmarks/machine.py (the script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]


def _make_index(folder: Path, n_videos: int, seconds: int) -> Path:
    """Generated H.264 videos (kept between runs) and an index of all their clips."""
    import pandas as pd

    from ucf_nb.video.sampling import clip_windows
    from ucf_nb.demo.synthetic import write_synthetic_video

    recs = []
    n = 30 * seconds
    for v in range(n_videos):
        path = folder / f"{seconds}s_h264_gop250_{v}.mp4"
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
                events=[(n // 3, n // 2)] if v % 2 else [],
            )
            tmp.replace(path)
        for k, (a, b) in enumerate(clip_windows(n, 32, 16)):
            recs.append(
                dict(
                    split="train",
                    y=v % 2,
                    category="Abuse" if v % 2 else "Normal",
                    path=str(path),
                    clip_idx=k,
                    start_frame=int(a),
                    end_frame=int(b),
                    clip_len=32,
                    stride=16,
                    fps=30.0,
                    n_frames=n,
                    video=path.name,
                    anomaly_frac=np.nan,
                )
            )
    index = folder / f"index_{n_videos}x{seconds}s.csv"
    pd.DataFrame(recs).to_csv(index, index=False)
    return index


def prototype_pipeline(rows, encoder_dir: Path, out_file: Path, batch_size: int = 16) -> float:
    """The prototype's loop on ``rows`` (index rows); returns wall seconds, model loading included."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import AutoModel

    from ucf_nb import ClipDataset, Preprocessing

    t0 = time.perf_counter()
    model = AutoModel.from_pretrained(encoder_dir).eval()
    model.requires_grad_(False)
    loader = DataLoader(
        ClipDataset(rows, T=8, preprocessing=Preprocessing.seed(224)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=1,
    )
    X = np.lib.format.open_memmap(out_file, mode="w+", dtype=np.float16, shape=(len(rows), model.config.hidden_size))
    at = 0
    with torch.no_grad():
        for clips, _labels in loader:  # clips: (B, 3, T, S, S)
            pixel_values = clips.permute(0, 2, 1, 3, 4).contiguous()
            cls = model(pixel_values=pixel_values).last_hidden_state[:, 0]
            X[at : at + len(cls)] = cls.numpy().astype(np.float16)
            at += len(cls)
    X.flush()
    del X
    return time.perf_counter() - t0


def ours(
    index: Path,
    encoder_dir: Path,
    out_dir: Path,
    *,
    precision: str,
    device: str = "cpu",
    num_workers: int = 1,
    batch_size: int = 16,
    img_size: int = 224,
) -> tuple[float, dict]:
    from ucf_nb import extract_split

    shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.perf_counter()
    r = extract_split(
        "train",
        index,
        out_dir=out_dir,
        checkpoint=encoder_dir,
        T=8,
        img_size=img_size,
        batch_size=batch_size,
        num_workers=num_workers,
        device=device,
        precision=precision,
        preprocessing="seed",
        progress=False,
    )
    return time.perf_counter() - t0, r


def model_alone(encoder_dir: Path, precision: str, repeats: int = 3, batch_size: int = 16) -> float:
    """clips/s of normalisation + the encoder's forward pass alone, on random uint8 batches, with
    the intra-op threads extract_split gives the model next to one decode worker: the ceiling
    of the pipeline."""
    import torch

    from ucf_nb import Preprocessing
    from ucf_nb.encoders import load_encoder
    from ucf_nb.extract.split import _n_cpus

    enc = load_encoder(encoder_dir, device="cpu", precision=precision)
    prep = Preprocessing.seed(224)
    u = torch.randint(
        0, 256, (batch_size, 8, 224, 224, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(threads, _n_cpus() - 1)))
    try:
        enc.embed(prep.normalize(u))  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            enc.embed(prep.normalize(u))
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return batch_size / best


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def real_size_cosine(index: Path, n_clips: int, work: Path) -> tuple[np.ndarray, str]:
    """bf16-autocast vs fp32 CLS embeddings of a real-size TimeSformer (random weights)."""
    import pandas as pd
    import torch
    from transformers import TimesformerConfig, TimesformerModel

    from ucf_nb import ClipDataset, Preprocessing

    torch.manual_seed(0)
    model = TimesformerModel(TimesformerConfig()).eval()
    model.requires_grad_(False)
    df = pd.read_csv(index)
    rows = df.iloc[np.linspace(0, len(df) - 1, n_clips).round().astype(int)]
    prep = Preprocessing.seed(224)
    ds = ClipDataset(rows, T=8, preprocessing=prep)
    x = torch.stack([prep.normalize(torch.from_numpy(ds.read_clip(i)["frames"])) for i in range(len(ds))])
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(dev)
    x = x.to(dev)
    with torch.inference_mode():
        a = model(pixel_values=x).last_hidden_state[:, 0].float().cpu().numpy()
        with torch.autocast(device_type=dev, dtype=torch.bfloat16):
            b = model(pixel_values=x).last_hidden_state[:, 0].float().cpu().numpy()
    return _cosines(a, b), dev


def gpu_run(index: Path, work: Path, workers: int) -> dict | None:
    import torch

    if not torch.cuda.is_available():
        return None
    from transformers import TimesformerConfig, TimesformerModel

    from ucf_nb.demo import make_demo_encoder

    folder = work / "timesformer_base_random"
    if not folder.exists():
        torch.manual_seed(0)
        TimesformerModel(TimesformerConfig()).save_pretrained(folder, safe_serialization=True)
        demo = make_demo_encoder(work / "demo_for_preprocessor")
        shutil.copy(demo / "preprocessor_config.json", folder / "preprocessor_config.json")
    rows = {}
    for precision in ("auto", "fp32"):
        secs, r = ours(
            index, folder, work / f"gpu_{precision}", precision=precision, device="cuda", num_workers=workers
        )
        rows[precision] = (secs, r)
    return {"device": torch.cuda.get_device_name(0), "runs": rows}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=2, help="number of generated videos (default 2)")
    parser.add_argument("--seconds", type=int, default=60, help="length of each video in seconds (default 60)")
    parser.add_argument(
        "--prototype-clips",
        type=int,
        default=48,
        help="clips the prototype pipeline embeds (default 48, spread over the videos)",
    )
    parser.add_argument(
        "--real-size-clips",
        type=int,
        default=4,
        help="clips for the real-size bf16-vs-fp32 check (0 skips it; default 4)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats, best kept (default 3)")
    parser.add_argument("--gpu-workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--work", default="build/bench_extract", help="folder for videos and outputs")
    parser.add_argument(
        "--write-readme",
        action="store_true",
        help="replace the extract section of benchmarks/README.md with the results",
    )
    args = parser.parse_args(argv)

    import pandas as pd
    import torch

    from ucf_nb.demo import make_demo_encoder
    from ucf_nb.encoders import resolve_precision

    work = (ROOT / args.work) if not os.path.isabs(args.work) else Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    index = _make_index(work, args.videos, args.seconds)
    enc = work / "demo_encoder"
    make_demo_encoder(enc)  # always today's demo encoder (cheap), never a stale copy
    df = pd.read_csv(index)
    n_all = len(df)
    # import everything both pipelines use before any clock starts
    import av  # noqa: F401
    import cv2  # noqa: F401
    import transformers.models.timesformer.modeling_timesformer  # noqa: F401
    from transformers import AutoModel  # noqa: F401

    import ucf_nb.video.dataset  # noqa: F401
    import ucf_nb.extract.split  # noqa: F401
    import ucf_nb.index  # noqa: F401

    sample = df.iloc[np.linspace(0, n_all - 1, min(args.prototype_clips, n_all)).round().astype(int)]
    times: dict[str, list[float]] = {"proto": [], "auto": [], "fp32": []}
    for _ in range(args.repeats):  # interleaved, so that a busy spell on a shared machine hits all three
        times["proto"].append(prototype_pipeline(sample, enc, work / "prototype_emb.npy"))
        times["auto"].append(ours(index, enc, work / "out_auto", precision="auto")[0])
        times["fp32"].append(ours(index, enc, work / "out_fp32", precision="fp32")[0])
    t_proto, t_auto, t_fp32 = (min(times[k]) for k in ("proto", "auto", "fp32"))

    def spread(k: str, n: int) -> str:
        rates = sorted(n / t for t in times[k])
        return f"{rates[0]:.1f}-{rates[-1]:.1f}" if len(rates) > 1 else f"{rates[0]:.1f}"

    proto_rate = len(sample) / t_proto
    auto_rate, fp32_rate = n_all / t_auto, n_all / t_fp32
    cos_tiny = _cosines(np.load(work / "out_auto" / "emb_train.npy"), np.load(work / "out_fp32" / "emb_train.npy"))
    auto_prec = resolve_precision("auto", torch.device("cpu"))

    lines = []
    date = _dt.date.today().isoformat()
    cmd = "python benchmarks/bench_extract.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines += [
        f"Machine: {cpu_model()}, {os.cpu_count()} CPU cores visible, no GPU used. "
        f"torch {torch.__version__}. Date: {date}. Command: `{cmd.strip()}`.",
        "",
        f"Videos: {args.videos} generated H.264 files of {args.seconds} s (320x240, 30 fps, keyframe every "
        f"250 frames, B-frames), {n_all} clips (clip_len 32, stride 16), T=8, 224x224, batches of 16, "
        "tiny demo encoder (random weights), one DataLoader worker per pipeline. Wall time from the call "
        "to the finished arrays, model loading included.",
        "",
        f"Best of {args.repeats} interleaved repeats (range of clips/s over the repeats in brackets).",
        "",
        "| pipeline | clips | seconds | clips/s | vs prototype |",
        "|---|---:|---:|---:|---:|",
        f"| prototype (seek per frame, fp32) | {len(sample)} | {t_proto:.1f} | {proto_rate:.2f} "
        f"({spread('proto', len(sample))}) | 1.0x |",
        f"| extract_split, precision=auto ({auto_prec}) | {n_all} | {t_auto:.1f} | {auto_rate:.2f} "
        f"({spread('auto', n_all)}) | {auto_rate / proto_rate:.1f}x |",
        f"| extract_split, precision=fp32 | {n_all} | {t_fp32:.1f} | {fp32_rate:.2f} "
        f"({spread('fp32', n_all)}) | {fp32_rate / proto_rate:.1f}x |",
        f"| (normalisation + forward pass alone, {auto_prec}, best of 3 batches) | 16 | | "
        f"{model_alone(enc, 'auto'):.2f} | |",
        f"| (normalisation + forward pass alone, fp32, best of 3 batches) | 16 | | {model_alone(enc, 'fp32'):.2f} | |",
        "",
    ]
    lines += [
        "bf16 autocast vs fp32, cosine similarity of the CLS embeddings per clip:",
        "",
        "| model | device | clips | min | mean |",
        "|---|---|---:|---:|---:|",
        f"| tiny demo encoder (float16 as stored) | cpu | {len(cos_tiny)} | {cos_tiny.min():.5f} | "
        f"{cos_tiny.mean():.5f} |",
    ]
    if args.real_size_clips > 0:
        cos_real, dev = real_size_cosine(index, args.real_size_clips, work)
        lines.append(
            f"| TimesformerConfig() (real size, random weights) | {dev} | {len(cos_real)} | "
            f"{cos_real.min():.5f} | {cos_real.mean():.5f} |"
        )
    lines.append("")
    gpu = gpu_run(index, work, args.gpu_workers)
    if gpu is None:
        lines.append(
            "GPU: no CUDA device on this machine, so the real-size GPU run was not measured. On a GPU "
            "machine the same command runs TimesformerConfig() (real size, random weights) through "
            f"extract_split on CUDA with --gpu-workers decode workers and adds its clips/s here."
        )
    else:
        lines += [
            f"GPU: {gpu['device']}, TimesformerConfig() (real size, random weights), "
            f"{args.gpu_workers} decode workers:",
            "",
            "| precision | clips | seconds | clips/s |",
            "|---|---:|---:|---:|",
        ]
        for prec, (secs, r) in gpu["runs"].items():
            lines.append(f"| {prec} ({r['precision']}) | {n_all} | {secs:.1f} | {n_all / secs:.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.write_readme:
        _write_readme(text)
    return text


def _write_readme(body: str) -> None:
    from machine import write_readme_block  # benchmarks/machine.py

    write_readme_block("extract", body)


if __name__ == "__main__":
    main()
