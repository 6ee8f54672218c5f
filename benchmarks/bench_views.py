"""What ten-crop views cost: ``extract_split(views="center")`` against ``views="ten_crop"``.

Both embed every clip (clip_len 32, stride 16, T=8) of the same generated 320x240, 30 fps
H.264 videos (those of ``bench_extract.py``) with the tiny demo encoder at 224x224 (random
weights: the benchmark measures the pipeline, not a big model's arithmetic), fp32, one
DataLoader worker and ``batch_size="auto"`` (on the CPU 16 clips, and 1 ten-crop clip = 10
views). Two figures per setting:

- the decode stream alone (:class:`ucf_nb.VideoClipStream` with the run's preprocessing,
  iterated in this process, uint8 frames): decoding is shared by the ten views, so this is
  what ten-crop adds on the decode side (one resize to 256/224 of the crop, six crops);
- ``extract_split`` end to end (``clips_per_s`` of its result: the loop, model loading
  excluded), where ten-crop is ten forward passes per clip.

Run from the project root::

    python benchmarks/bench_views.py                 # print the results table
    python benchmarks/bench_views.py --write-readme  # and put it into benchmarks/README.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import time
from pathlib import Path

from bench_extract import _make_index  # benchmarks/ (the script's folder is on sys.path)
from machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def _stream_rate(index: Path, encoder: Path, views: str, limit: int) -> float:
    """Clips/s of the decode stream alone (this process, uint8 frames), with the run's preprocessing."""
    import pandas as pd

    from ucf_nb import Preprocessing, VideoClipStream

    rows = pd.read_csv(index).head(limit)
    prep = Preprocessing.from_pretrained(encoder).with_views(views)
    t0 = time.perf_counter()
    n = sum(1 for _ in VideoClipStream(rows, T=8, preprocessing=prep))
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=20, help="length of each generated video")
    parser.add_argument("--work", default=str(ROOT / "build" / "bench_views"))
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from ucf_nb import extract_split
    from ucf_nb.demo import make_demo_encoder

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    index = _make_index(work, args.videos, args.seconds)
    encoder = work / "encoder"
    if not encoder.exists():
        make_demo_encoder(encoder)
    rows = []
    for views in ("center", "ten_crop"):
        out = work / f"run_{views}"
        shutil.rmtree(out, ignore_errors=True)
        stream = _stream_rate(index, encoder, views, limit=10_000)
        r = extract_split(
            "train",
            index,
            out_dir=out,
            checkpoint=encoder,
            T=8,
            img_size=None,
            device="cpu",
            precision="fp32",
            num_workers=1,
            batch_size="auto",
            progress=False,
            views=views,
        )
        rows.append((views, r["n_embedded"], r["batch_size"], stream, r["seconds"], r["clips_per_s"]))
    center = rows[0][5]
    lines = [
        "| views | clips | batch (clips) | decode stream alone, clips/s | extract_split, s | "
        "extract_split, clips/s | vs centre |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for views, n, b, stream, secs, rate in rows:
        lines.append(f"| {views} | {n} | {b} | {stream:.1f} | {secs:.1f} | {rate:.2f} | {rate / center:.2f}x |")
    table = "\n".join(lines)
    cmd = "python benchmarks/bench_views.py" + (" " + " ".join(argv) if argv else "")
    body = (
        f"`{cmd}` on {_dt.date.today().isoformat()}: {cpu_model()}, {len(os.sched_getaffinity(0))} cores "
        f"available to the process, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{args.videos} generated videos of {args.seconds} s (320x240, H.264), the tiny demo encoder at "
        "224x224, fp32, one decode worker.\n\n" + table
    )
    print(body)
    if args.write_readme:
        from machine import write_readme_block

        write_readme_block("views", body)
    return body


if __name__ == "__main__":
    main()
