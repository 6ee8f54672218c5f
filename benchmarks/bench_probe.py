"""Probe speed and memory at UCF-Crime's real size, on synthetic embeddings.

Writes a synthetic run into ``build/bench/probe/`` (kept between runs; ``--rebuild`` redoes
it) through the real :class:`ucf_nb.EmbeddingStore` API: an index with the prototype's clip
counts (train 106,527, val 19,793, test 19,036 clips), 768-wide float16 embeddings, a
temporal annotation of the 290 test videos (1.11 M test frames, as in UCF-Crime) and a few
failed clips. The embeddings are hard on purpose: correlated features with a decaying
spectrum (condition number ~1e4 before standardising), the class signal spread over
low-variance directions, so lbfgs needs hundreds of iterations at large ``C``.

Then times, in one process:

- ``run_probe`` end to end (load, fit with the ``C`` grid, score val and test, every metric,
  write the outputs), default settings and ``fast=True``;
- its parts: ``fit_probe`` and ``frame_level_auc`` alone;

and reports the peak resident memory of this process (``ru_maxrss``: the synthetic run is
written by a separate process, so the peak is the probe's, imports included). ``--size full``
uses UCF-Crime's full clip count at stride 16 (868,000 clips: train 679,000 / val 120,052 /
test 68,948; ``build/bench/probe-full/``, 1.3 GB). Run from the project root::

    python benchmarks/bench_probe.py            # add --threads 2 to pin BLAS threads
    python benchmarks/bench_probe.py --size full --skip-fast --skip-parts
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from machine import cpu_model  # benchmarks/machine.py (the script's folder is on sys.path)

SIZES = {
    # the prototype's own index (a subset of UCF-Crime): 145,356 clips
    "prototype": {"train": 106_527, "val": 19_793, "test": 19_036},
    # the full dataset at clip_len 32 / stride 16: 868,000 clips (train + val from the 1,610
    # training videos split 85/15, test from the 290 test videos' 1.11 M frames), as
    # benchmarks/bench_scale.py draws it
    "full": {"train": 679_000, "val": 120_052, "test": 68_948},
}
N_CLIPS = dict(SIZES["prototype"])
D = 768
TEST_VIDEOS = 290
TEST_FRAMES = 1_110_000


def _videos(split: str, n_clips: int, rng: np.random.Generator):
    """(names, categories, n_frames, clip_len, stride) of synthetic videos holding n_clips clips."""
    if split == "test":
        per = n_clips // TEST_VIDEOS
        counts = np.full(TEST_VIDEOS, per)
        counts[: n_clips - per * TEST_VIDEOS] += 1
        frames = TEST_FRAMES // TEST_VIDEOS
        stride = (frames - 32) // (per - 1)  # spread each video's clips over its frames
    else:
        counts = []
        left = n_clips
        while left > 0:
            k = int(min(left, rng.integers(20, 200)))
            counts.append(k)
            left -= k
        counts = np.array(counts)
        stride = 16
    cats = np.where(np.arange(len(counts)) % 2 == 0, "Normal", "Abuse")
    names = np.array([f"{c}_{split}{i:05d}_x264.mp4" for i, c in enumerate(cats)])
    n_frames = (counts - 1) * stride + 32 + (stride // 2)
    return names, cats, counts, n_frames, stride


def build(folder: Path, seed: int = 0, size: str = "prototype") -> tuple[Path, Path]:
    """Write index, store and annotation of the synthetic run; return (out_dir, annotation)."""
    import pandas as pd

    from ucf_nb.demo.synthetic import write_synthetic_store

    rng = np.random.default_rng(seed)
    frames_parts, ann_lines = [], []
    for split, n in SIZES[size].items():
        names, cats, counts, n_frames, stride = _videos(split, n, rng)
        vid = np.repeat(np.arange(len(names)), counts)
        k = np.concatenate([np.arange(c) for c in counts])
        start = k * stride
        part = pd.DataFrame(
            {
                "split": split,
                "y": (cats[vid] != "Normal").astype(int),
                "category": cats[vid],
                "path": [f"videos/{v}" for v in names[vid]],
                "clip_idx": k,
                "start_frame": start,
                "end_frame": start + 32,
                "clip_len": 32,
                "stride": stride,
                "fps": 30.0,
                "n_frames": n_frames[vid],
                "video": names[vid],
                "anomaly_frac": np.nan,
            }
        )
        if split == "test":
            ev_a = (n_frames * rng.uniform(0.2, 0.5, len(names))).astype(int)
            ev_b = (ev_a + n_frames * rng.uniform(0.1, 0.3, len(names))).astype(int)
            normal = cats == "Normal"
            a, b = ev_a[vid], ev_b[vid]
            overlap = np.clip(np.minimum(start + 32, b + 1) - np.maximum(start, a), 0, 32) / 32
            part["anomaly_frac"] = np.where(normal[vid], 0.0, overlap)
            for i, nm in enumerate(names):
                pair = "-1  -1" if normal[i] else f"{ev_a[i]}  {ev_b[i]}"
                ann_lines.append(f"{nm}  {cats[i]}  {pair}  -1  -1")
        frames_parts.append(part)
    df = pd.concat(frames_parts, ignore_index=True)

    # correlated features: random rotation of a 1/k spectrum; signal in a few mid-spectrum directions
    Q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    spectrum = 1.0 / np.arange(1, D + 1)
    mix = (spectrum[:, None] * Q.T).astype(np.float32)  # (D, D)
    w = np.zeros(D, np.float32)
    w[rng.choice(np.arange(5, 300), 40, replace=False)] = 1.0

    def embed(split: str, sub: pd.DataFrame):
        strength = sub["anomaly_frac"].fillna(sub["y"]).to_numpy(np.float32)
        n_real = np.full(len(sub), 8)
        n_real[rng.choice(len(sub), 25, replace=False)] = 0  # failed clips

        def chunks():
            for a in range(0, len(sub), 8192):
                z = rng.standard_normal((min(8192, len(sub) - a), D), dtype=np.float32)
                z += 0.12 * strength[a : a + 8192, None] * w
                emb = z @ mix
                yield emb / emb.std() * 0.97

        return chunks(), n_real

    out, _, ann_path = write_synthetic_store(
        folder, df, embed, embedding_dim=D, annotation_lines=ann_lines, settings={"precision": "fp16"}
    )
    return out, ann_path


def _peak_rss_mib() -> float:
    """This process's peak resident set size (ru_maxrss), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="prototype",
        help="prototype: 145,356 clips; full: 868,000 clips (UCF-Crime at stride 16)",
    )
    parser.add_argument(
        "--folder",
        default=None,
        help="where the synthetic run lives (default build/bench/probe, build/bench/probe-full for --size full)",
    )
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--skip-parts", action="store_true", help="do not time fit_probe and frame_level_auc alone (a second full fit)"
    )
    parser.add_argument("--rebuild", action="store_true", help="rewrite the synthetic run")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads (sets OMP/OPENBLAS/MKL_NUM_THREADS; default: library default)",
    )
    parser.add_argument("--skip-fast", action="store_true", help="do not time fast=True")
    args = parser.parse_args(argv)
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)

    from ucf_nb.paths import display_path, resolve_path
    from ucf_nb.evaluate.metrics import frame_level_auc
    from ucf_nb.evaluate.linear import fit_probe
    from ucf_nb.evaluate.probe import run_probe
    from ucf_nb.store import load_embeddings

    folder = resolve_path(
        args.folder or ("build/bench/probe" if args.size == "prototype" else f"build/bench/probe-{args.size}")
    )
    out, ann = folder / "out", folder / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    if args.build_only:
        if folder.exists():
            shutil.rmtree(folder)
        build(folder, size=args.size)
        return
    if args.rebuild or not (out / "manifest.json").exists():
        # written by another process, so that this one's peak memory is the probe's alone
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--build-only", "--size", args.size, "--folder", str(folder)], check=True
        )
        print(f"synthetic run written to {display_path(folder)} in {time.perf_counter() - t:.1f} s")
    sizes = {s: n for s, n in SIZES[args.size].items()}
    matrix = (sizes["train"] - 25) * D * 4
    print(
        f"size {args.size}: {sum(sizes.values()):,} clips ({sizes}), D = {D}; float32 training matrix "
        f"{matrix / 2**30:.2f} GiB"
    )
    print(f"peak RSS before the probe (imports): {_peak_rss_mib():.0f} MiB")

    print(
        f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; python {sys.version.split()[0]}; "
        f"numpy {np.__version__}; date: {_dt.date.today().isoformat()}"
    )
    import inspect

    again = {"refit": True} if "refit" in inspect.signature(run_probe).parameters else {}  # never read back
    t = time.perf_counter()
    res = run_probe(out, annotation_path=ann, seed=0, **again)
    total = time.perf_counter() - t
    m = res.metrics
    st = m["settings"]
    print(
        f"run_probe (default): {total:.1f} s total  [{m['timing']}]; C={st['C']} (grid on "
        f"{st['grid_n_train']} clips: {st['val_auc_by_C']}), final fit n_iter={st['n_iter']}, "
        f"converged={st['converged']}"
    )
    print(
        f"  clip AUC val/test {m['clip_auc_val']:.4f}/{m['clip_auc_test']:.4f}, frame AUC "
        f"{m['frame_auc_test']:.4f} over {m['frame_level']['all']['n_frames']} frames; "
        f"failed clips dropped: train {m['counts']['train']['n_failed']}, test {m['counts']['test']['n_failed']}"
    )
    print(
        f"  peak RSS so far: {_peak_rss_mib():.0f} MiB = {_peak_rss_mib() * 2**20 / matrix:.2f}x the float32 "
        f"training matrix"
    )
    if args.skip_parts:
        return

    if not args.skip_fast:
        t = time.perf_counter()
        fast = run_probe(out, seed=0, fast=True, **again)
        print(
            f"run_probe (fast=True): {time.perf_counter() - t:.1f} s total [{fast.metrics['timing']}], "
            f"clip AUC val {fast.metrics['clip_auc_val']:.4f}, converged={fast.metrics['settings']['converged']}"
        )

    X, y, _ = load_embeddings(out, "train")
    Xv, yv, _ = load_embeddings(out, "val")
    t = time.perf_counter()
    fit_probe(X, y, X_val=Xv, y_val=yv, Cs=[st["C"]])
    print(f"fit_probe, one C, no grid, all {len(y)} train clips: {time.perf_counter() - t:.1f} s")
    test = res.scores["test"]
    t = time.perf_counter()
    frame_level_auc(test, res.intervals)
    print(
        f"frame_level_auc over {int(test['n_frames'].groupby(test['video']).first().sum())} frames: "
        f"{time.perf_counter() - t:.2f} s"
    )
    print(f"peak RSS: {_peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
