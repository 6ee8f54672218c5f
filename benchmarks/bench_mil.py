"""MIL head training time at UCF-Crime's real size, on synthetic embeddings.

1,610 training videos (the official training list: 810 anomalous, 800 normal), split 85/15
into train and val per label as ``build_index`` does (1,369 / 241 videos), 768-wide float16
clip embeddings (as the store holds them). Clips per video: long-tailed (log-normal), scaled
so that the totals are the prototype's clip counts (train 106,527 + val 19,793 = 126,320
clips, 78 per video on average, 4 to about 1,000). Anomalous videos carry a short run of
anomalous clips (a shift along one direction), the rest is noise around a common offset.

Times ``ucf_nb.fit_mil`` with its defaults (32 segments, 512-32-1, batches of 30 + 30 bags,
at most 2,000 iterations, val every 100, patience 5, then the refit on train + val), and
reports the chosen iteration count, the val video AUC and the peak resident memory. Run from
the project root::

    python benchmarks/bench_mil.py                # torch threads while fitting: 1 (default)
    python benchmarks/bench_mil.py --threads 2
    python benchmarks/bench_mil.py --size full     # 799,052 train + val clips (868k in all)

Peak memory: ``ru_maxrss`` of this process (the generated bags included).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import resource
import sys
import time

import numpy as np

from machine import cpu_model  # benchmarks/machine.py (the script's folder is on sys.path)

N_ANOMALOUS, N_NORMAL = 810, 800
TOTAL_CLIPS = 126_320
SIZES = {
    "prototype": 126_320,  # train + val clips of the prototype's index (145k clips in all)
    "full": 799_052,
}  # train + val clips of the full dataset (868k clips in all; bench_scale.py)
D = 768
VAL_FRACTION = 0.15


def make_bags(seed: int = 0, total_clips: int = TOTAL_CLIPS):
    rng = np.random.default_rng(seed)
    n_videos = N_ANOMALOUS + N_NORMAL
    raw = rng.lognormal(mean=0.0, sigma=0.9, size=n_videos)
    counts = np.maximum(4, np.round(raw / raw.sum() * total_clips)).astype(int)
    labels = np.r_[np.ones(N_ANOMALOUS, int), np.zeros(N_NORMAL, int)]
    direction = rng.normal(size=D).astype(np.float32)
    direction /= np.linalg.norm(direction)
    offset = rng.normal(size=D).astype(np.float32)
    bags = []
    for n, y in zip(counts, labels):
        X = rng.standard_normal((n, D), dtype=np.float32) + offset
        if y:
            k = max(1, int(round((0.1 + 0.2 * rng.random()) * n)))
            a = int(rng.integers(0, n - k + 1))
            X[a : a + k] += 2.0 * direction
        bags.append(X.astype(np.float16))
    val = np.zeros(n_videos, bool)
    for lab in (0, 1):
        idx = np.flatnonzero(labels == lab)
        val[rng.choice(idx, int(round(VAL_FRACTION * len(idx))), replace=False)] = True
    return bags, labels, val


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads while fitting (fit_mil n_threads)")
    ap.add_argument("--max-iter", type=int, default=None, help="override fit_mil's max_iter")
    ap.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="prototype",
        help="train + val clips: prototype 126,320; full 799,052 (UCF-Crime's 868k clips in all)",
    )
    args = ap.parse_args(argv)
    import torch

    import ucf_nb

    t = time.perf_counter()
    bags, labels, val = make_bags(total_clips=SIZES[args.size])
    peak_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    n_clips = sum(len(b) for b in bags)
    print(
        f"data: {len(bags)} videos ({int(val.sum())} val), {n_clips} clips x {D} float16, "
        f"clips per video {min(map(len, bags))}-{max(map(len, bags))} (generated in "
        f"{time.perf_counter() - t:.1f} s)",
        flush=True,
    )
    tr = [b for b, v in zip(bags, val) if not v]
    va = [b for b, v in zip(bags, val) if v]
    kw = {} if args.max_iter is None else {"max_iter": args.max_iter}
    load0 = os.getloadavg()
    t = time.perf_counter()
    head = ucf_nb.fit_mil(
        tr, labels[~val], val_bags=va, val_labels=labels[val], seed=0, n_threads=args.threads, progress=True, **kw
    )
    total = time.perf_counter() - t
    load1 = os.getloadavg()
    s = head.settings
    best = max((c for c in s["val_curve"] if c["iter"] == s["best_iter"]), key=lambda c: c["iter"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    n_iter = s["val_curve"][-1]["iter"] + s["best_iter"]
    print(
        f"fit_mil: {total:.1f} s total, {n_iter} iterations ({total / n_iter:.3f} s each, segmenting included), "
        f"best_iter {s['best_iter']} of {s['val_curve'][-1]['iter']} run "
        f"(val video AUC {best['val_auc']:.4f}), refit on {s['n_refit_videos']} videos; "
        f"threads {args.threads}; peak RSS {peak:.2f} GiB (after generating the bags: {peak_data:.2f} GiB; "
        f"the float16 bags: {n_clips * D * 2 / 2**30:.2f} GiB); load average before {load0[0]:.1f}, "
        f"after {load1[0]:.1f}"
    )
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, Python {sys.version.split()[0]}, "
        f"torch {torch.__version__}, date {_dt.date.today().isoformat()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
