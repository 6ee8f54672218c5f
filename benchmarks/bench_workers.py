"""Start-up cost of the DataLoader workers' start method (issue 10, part 1).

``extract_split`` starts its decode workers with ``forkserver`` (``ucf_nb.video.workers``), not
``fork``, so that a parent that used OpenCV cannot hang them. This measures what that costs:
seconds from ``iter(DataLoader)`` to the first batch of a ``VideoClipStream`` (one
generated 64-frame H.264 video, T=8, 64x64, batches of 4), for ``fork``, ``forkserver`` and
``spawn``, with 1 and 2 workers, each in a fresh interpreter (the parent has NOT used
OpenCV, else ``fork`` would hang), and for ``forkserver`` also a second loader in the same
process (the server is already running: each later split or shard pays only this).
``forkserver+preload`` is what ``extract_split`` uses (:func:`ucf_nb.video.workers.worker_context`:
the server imports torch and ``ucf_nb.video.dataset`` once, workers fork from it).

Run from the project root::

    python benchmarks/bench_workers.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
import pandas as pd
from torch.utils.data import DataLoader
import multiprocessing
from ucf_nb import VideoClipStream, Preprocessing
from ucf_nb.video.dataset import collate_clips
from ucf_nb.video.workers import main_not_reimported, worker_context

video, method, nw = sys.argv[1], sys.argv[2], int(sys.argv[3])
df = pd.DataFrame({"path": [video] * 3, "start_frame": [0, 16, 32], "end_frame": [32, 48, 64]})
out = []
for attempt in range(2 if method.startswith("forkserver") else 1):
    stream = VideoClipStream(df, T=8, preprocessing=Preprocessing.seed(64), segment_clips=1)
    loader = DataLoader(stream, batch_size=4, num_workers=nw, collate_fn=collate_clips,
                        multiprocessing_context=worker_context() if method == "forkserver+preload"
                        else multiprocessing.get_context(method))
    t0 = time.perf_counter()
    with main_not_reimported():
        it = iter(loader)
    next(it)
    out.append(time.perf_counter() - t0)
    for _ in it:
        pass
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from ucf_nb.demo.synthetic import write_synthetic_video

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory() as tmp:
        video = str(write_synthetic_video(Path(tmp) / "v.mp4", 64, width=160, height=120))
        script = Path(tmp) / "child.py"
        script.write_text(CHILD)
        results: dict[tuple[str, int], list[list[float]]] = {}
        for _ in range(args.repeats):  # interleaved repeats
            for method in ("fork", "forkserver+preload", "forkserver", "spawn"):
                for nw in (1, 2):
                    r = subprocess.run(
                        [sys.executable, str(script), video, method, str(nw)],
                        capture_output=True,
                        text=True,
                        env=env,
                        timeout=600,
                        check=True,
                    )
                    results.setdefault((method, nw), []).append(json.loads(r.stdout.strip().splitlines()[-1]))
    print("| start method | workers | first batch, fresh process (s) | second loader, same process (s) |")
    print("|---|---:|---:|---:|")
    for (method, nw), runs in results.items():
        first = sorted(r[0] for r in runs)
        second = sorted(r[1] for r in runs if len(r) > 1)
        med = lambda xs: xs[len(xs) // 2]  # noqa: E731
        print(
            f"| {method} | {nw} | {med(first):.2f} ({first[0]:.2f}-{first[-1]:.2f}) | "
            + (f"{med(second):.2f} ({second[0]:.2f}-{second[-1]:.2f})" if second else "")
            + " |"
        )


if __name__ == "__main__":
    main()
