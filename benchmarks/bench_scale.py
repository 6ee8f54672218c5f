"""A full-scale dry run: UCF-Crime's shape (names, lengths, layout) with tiny pixels and a tiny encoder.

Generates, under ``build/bench/scale-<scale>/`` (ignored by git):

- ``UCF_Crime/``: the 1,900 videos of UCF-Crime under their official file names (1,610 of
  ``Anomaly_Train.txt`` + 290 of the test annotation), in the release's folder layout
  (``Anomaly-Videos-Part-1..4/<Category>/``, ``Training-Normal-Videos-Part-1/2/``,
  ``Testing_Normal_Videos_Anomaly/``), with both list files in the official formats. The
  names are generated here from the per-category numbering of the release (:data:`NUMBERS`:
  which numbers exist and which are test videos); nothing is read from elsewhere.
  Frames: 32x24 pixels, 30 fps, H.264 (keyframe every 250 frames); a grey scene with a small
  moving block, and a large bright block during anomalous events (so the heads have
  something to find).
- Frame counts: per-video counts of the real files were not available, so they are **drawn**
  (seeded) from a log-normal distribution (sigma 1.0, at least 200 frames, at most 120,000)
  scaled so that the full dataset has :data:`TOTAL_CLIPS` clips at clip_len 32 / stride 16
  (about 868,000; 13.9 M frames) of which the test videos hold :data:`TEST_FRAMES` frames
  (1.11 M, as in UCF-Crime). Test events: one or two windows drawn inside each anomalous test
  video, written to the test annotation.
- ``encoder/``: a tiny random TimeSformer (:func:`ucf_nb.encoders.tiny.make_tiny_encoder`: 64 wide, 2
  layers, 32x32 input, 16-pixel patches, T = 8).

``--scale 10`` keeps every 10th video (190 videos, about 1/10 of the clips), ``--scale 1``
all of them. Then each stage runs in its own subprocess, timed, with its peak memory: the
peak resident set size (RSS) of the stage's own process (its ``VmHWM``), of its largest
child process (``ru_maxrss`` of its children: decode workers, notebook kernels) and the peak of the summed RSS of the stage's whole process tree,
sampled from ``/proc`` every 0.2 s. Stages: ``build_index`` (``ucf_nb.build_index``),
``validate`` (``ucf_nb.validate_index``), ``extract_train`` / ``_val`` / ``_test``
(``ucf_nb.extract_split``, CPU, fp32, batches of 128, ``--workers`` decode workers),
``probe_linear`` / ``probe_mil`` (``ucf_nb.run_probe``, defaults), ``export``
(``ucf_nb.export_features``), ``book`` (``python -m ucf_nb.report run`` with the same
parameters, which re-uses the finished index, splits and heads and executes the notebooks,
then ``python -m ucf_nb.report build``). Results are appended to ``results.jsonl`` in the
folder as each stage ends, so an interrupted run keeps what it measured. Run from the project
root::

    python benchmarks/bench_scale.py --scale 10            # 1/10 scale
    nohup python benchmarks/bench_scale.py --scale 1 &     # full scale (hours on 2 cores)
    python benchmarks/bench_scale.py --table               # markdown table of every results.jsonl
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

TOTAL_CLIPS = 868_000
TEST_FRAMES = 1_110_000
CLIP_LEN, STRIDE, FPS = 32, 16, 30
WIDTH, HEIGHT = 32, 24
MIN_FRAMES, MAX_FRAMES = 200, 120_000

# The release's numbering: category -> (numbers that exist, numbers that are test videos).
# Normal videos: training names are Normal_Videos<NNN>, test names Normal_Videos_<NNN>.
NUMBERS = {
    "Abuse": ("1-50", "28,30"),
    "Arrest": ("1-44,46-51", "1,7,24,30,39"),
    "Arson": ("1-3,5-32,34-42,44-53", "7,9-11,16,18,22,35,41"),
    "Assault": ("1-20,22-42,44-52", "6,10-11"),
    "Burglary": ("1-100", "5,17-18,21,24,32-33,35,37,61,76,79,92"),
    "Explosion": ("1-30,32-48,50-52", "2,4,7-8,10-11,13,16-17,20-22,25,27-29,33,35-36,39,43"),
    "Fighting": ("2-51", "3,18,33,42,47"),
    "RoadAccidents": ("1-44,46-151", "1-2,4,9-12,16-17,19-22,121-125,127-128,131-133"),
    "Robbery": ("1-150", "48,50,102,106,137"),
    "Shooting": ("1-15,17-34,36-44,46-48,50-54", "2,4,7-8,10-11,13,15,18-19,21-22,24,26,28,32-34,37,43,46-48"),
    "Shoplifting": ("1,3-10,12-22,24-34,36-45,47-55", "1,4-5,7,10,15-17,20-22,27-29,31,33-34,37,39,44,49"),
    "Stealing": ("2-4,6-32,35-37,42-55,57-63,65-75,77-84,86-89,91-98,100-114", "19,36,58,62,79"),
    "Vandalism": ("1-50", "7,15,17,28,36"),
    "Normal": (
        "1-950",
        "3,6,10,14-15,18-19,24-25,27,33-34,41-42,48,50-51,56,59,63,67,70,100,129,150,168,175,"
        "182,189,196,203,210,217,224,246-248,251,289,310,312,317,345,352,360,365,401,417,439,"
        "452-453,478,576,597,603,606,621,634,641,656,686,696,702,704,710,717,722,725,745,758,"
        "778,780-783,798,801,828,831,866-915,923-941,943-944",
    ),
}
PARTS = {
    "Abuse": 1,
    "Arrest": 1,
    "Arson": 1,
    "Assault": 1,
    "Burglary": 2,
    "Explosion": 2,
    "Fighting": 2,
    "RoadAccidents": 3,
    "Robbery": 3,
    "Shooting": 3,
    "Shoplifting": 4,
    "Stealing": 4,
    "Vandalism": 4,
}
STAGES = (
    "build_index",
    "validate",
    "extract_train",
    "extract_val",
    "extract_test",
    "probe_linear",
    "probe_mil",
    "export",
    "book",
)


def _numbers(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def video_plan(seed: int = 0) -> list[dict]:
    """The 1,900 videos: name, category, split list ('train'/'test'), folder, n_frames, events."""
    plan = []
    for cat, (have, test) in NUMBERS.items():
        test_set = set(_numbers(test))
        for k in _numbers(have):
            is_test = k in test_set
            if cat == "Normal":
                name = f"Normal_Videos_{k:03d}_x264.mp4" if is_test else f"Normal_Videos{k:03d}_x264.mp4"
                folder = (
                    "Testing_Normal_Videos_Anomaly"
                    if is_test
                    else f"Training-Normal-Videos-Part-{1 if k <= 475 else 2}"
                )
            else:
                name, folder = f"{cat}{k:03d}_x264.mp4", f"Anomaly-Videos-Part-{PARTS[cat]}/{cat}"
            plan.append(dict(name=name, category=cat, list="test" if is_test else "train", folder=folder))
    assert len(plan) == 1900 and sum(v["list"] == "test" for v in plan) == 290, "the release has 1,610 + 290"
    rng = np.random.default_rng(seed)
    raw = rng.lognormal(0.0, 1.0, len(plan))
    test = np.array([v["list"] == "test" for v in plan])

    def clips(n):
        return np.where(n >= CLIP_LEN, (n - CLIP_LEN) // STRIDE + 1, 0)

    def fit(mask, target_fn):
        lo, hi = 1.0, 1e7  # scale so that target_fn(frames) is met (bisection; monotone)
        for _ in range(100):
            mid = (lo * hi) ** 0.5
            n = np.clip(np.round(raw[mask] * mid), MIN_FRAMES, MAX_FRAMES).astype(np.int64)
            lo, hi = (mid, hi) if target_fn(n) < 0 else (lo, mid)
        return np.clip(np.round(raw[mask] * hi), MIN_FRAMES, MAX_FRAMES).astype(np.int64)

    frames = np.zeros(len(plan), np.int64)
    frames[test] = fit(test, lambda n: n.sum() - TEST_FRAMES)
    test_clips = int(clips(frames[test]).sum())
    frames[~test] = fit(~test, lambda n: clips(n).sum() - (TOTAL_CLIPS - test_clips))
    for v, n in zip(plan, frames):
        v["n_frames"] = int(n)
        v["events"] = []
        if v["list"] == "test" and v["category"] != "Normal":
            a = int(rng.integers(n // 10, n // 2))
            b = int(min(n - 1, a + rng.integers(max(16, n // 20), max(17, n // 4))))
            v["events"] = [(a, b)]
            if rng.random() < 0.2 and b + 64 < n - 32:
                c = int(rng.integers(b + 32, n - 32))
                v["events"].append((c, int(min(n - 1, c + 32 + rng.integers(0, n // 10 + 1)))))
        elif v["category"] != "Normal":  # training anomalies: an event somewhere (the heads' signal)
            a = int(rng.integers(0, max(1, n // 2)))
            v["events"] = [(a, int(min(n, a + max(64, n // 5))))]
    return plan


def _frames():
    """(normal, event) cycles of 32 pre-encoded-ready frames (yuv420p av.VideoFrame)."""
    import av

    out = []
    for event in (False, True):
        cyc = []
        for k in range(32):
            f = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
            x = k % (WIDTH - 4)
            f[8:12, x : x + 4] = 200
            if event:
                f[4:20, 4:28] = 250
            cyc.append(av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p"))
        out.append(cyc)
    return out


def _write_one(args) -> None:
    path, n_frames, events = args
    import av

    normal, event = _frames()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        s.options = {"preset": "ultrafast", "g": "250", "sc_threshold": "0", "crf": "23"}
        for k in range(n_frames):
            fr = (event if any(a <= k < b for a, b in events) else normal)[k % 32]
            fr.pts = k
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.replace(path)


def generate(folder: Path, scale: int, seed: int = 0, jobs: int = 2) -> dict:
    """Write the dataset (skipping videos already written) and the encoder; return a summary."""
    from multiprocessing import Pool

    plan = video_plan(seed)[::scale]
    root = folder / "UCF_Crime"
    todo = [
        (str(root / v["folder"] / v["name"]), v["n_frames"], v["events"])
        for v in plan
        if not (root / v["folder"] / v["name"]).is_file()
    ]
    with Pool(jobs) as pool:
        for _ in pool.imap_unordered(_write_one, todo, chunksize=4):
            pass
    train = [
        f"{'Training_Normal_Videos_Anomaly' if v['category'] == 'Normal' else v['category']}/{v['name']}"
        for v in plan
        if v["list"] == "train"
    ]
    (root / "Anomaly_Train.txt").write_text("\n".join(train) + "\n")
    lines = []
    for v in (v for v in plan if v["list"] == "test"):
        bounds = [x for a, b in v["events"] for x in (a, b - 1)]  # the official file: inclusive ends
        bounds += [-1] * (4 - len(bounds))
        lines.append("  ".join([v["name"], v["category"], *map(str, bounds)]) + "  ")
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text("\n".join(lines) + "\n")
    if not (folder / "encoder" / "config.json").is_file():
        from ucf_nb.encoders.tiny import make_tiny_encoder

        make_tiny_encoder(folder / "encoder", "timesformer", num_frames=8, image_size=32, patch_size=16)
    n = np.array([v["n_frames"] for v in plan])
    return {
        "videos": len(plan),
        "train_list": len(train),
        "test_list": len(lines),
        "frames": int(n.sum()),
        "clips": int(((n - CLIP_LEN) // STRIDE + 1).sum()),
        "frames_min": int(n.min()),
        "frames_median": int(np.median(n)),
        "frames_max": int(n.max()),
    }


# --- one stage, in its own process ---------------------------------------------------------------


def _paths(folder: Path) -> dict[str, str]:
    from ucf_nb.paths import display_path

    d = {
        k: display_path(folder / v)
        for k, v in dict(
            root="UCF_Crime",
            index="processed/index_clips.csv",
            runs="processed/runs",
            run="processed/runs/tiny",
            encoder="encoder",
            export="export",
            book="book",
        ).items()
    }
    d["annotation"] = f"{d['root']}/Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    return d


def run_stage(stage: str, folder: Path, workers: int, peak_file: str | None = None) -> None:
    p = _paths(folder)
    import ucf_nb

    if stage == "build_index":
        df = ucf_nb.build_index(p["root"], index_path=p["index"], probe_threads=2)
        print(f"{len(df)} clips of {df['video'].nunique()} videos")
    elif stage == "validate":
        rep = ucf_nb.validate_index(p["index"])
        print(f"validate_index: ok={rep.ok}")
    elif stage.startswith("extract_"):
        info = ucf_nb.extract_split(
            stage.split("_", 1)[1],
            p["index"],
            out_dir=p["run"],
            checkpoint=p["encoder"],
            T=8,
            batch_size=128,
            num_workers=workers,
            device="cpu",
            precision="fp32",
            progress=False,
        )
        print({k: info.get(k) for k in ("n_clips", "n_failed", "seconds") if k in info})
    elif stage == "probe_linear":
        res = ucf_nb.run_probe(p["run"], annotation_path=p["annotation"])
        print(f"linear: frame AUC {res.metrics['frame_auc_test']}, timing {res.metrics['timing']}")
    elif stage == "probe_mil":
        res = ucf_nb.run_probe(p["run"], annotation_path=p["annotation"], head="mil")
        print(f"mil: frame AUC {res.metrics['frame_auc_test']}, timing {res.metrics['timing']}")
    elif stage == "export":
        ucf_nb.export_features(p["run"], p["export"], annotation_path=p["annotation"], progress=False)
    elif stage == "book":
        book = folder / "book"
        book.mkdir(exist_ok=True)
        for f in ("_config.yml", "_toc.yml", "reproduce.md"):
            shutil.copy(ROOT / "book" / f, book / f)
        if (ROOT / "book" / "_static").is_dir():
            shutil.copytree(ROOT / "book" / "_static", book / "_static", dirs_exist_ok=True)
        params = dict(
            dataset_root=p["root"],
            index_path=p["index"],
            runs_dir=p["runs"],
            run_name="tiny",
            checkpoint=p["encoder"],
            T=8,
            batch_size=128,
            num_workers=workers,
            device="cpu",
            precision="fp32",
            annotation_path=p["annotation"],
        )
        cmd = [sys.executable, "-m", "ucf_nb.report", "run", "--book", p["book"]]
        for k, v in params.items():
            cmd += ["-p", f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"]
        subprocess.run(cmd, check=True, cwd=ROOT)
        subprocess.run([sys.executable, "-m", "ucf_nb.report", "build", "--book", p["book"]], check=True, cwd=ROOT)
    else:
        raise SystemExit(f"unknown stage {stage!r}: one of {', '.join(STAGES)}")
    if peak_file:  # this process's own high-water mark (VmHWM: reset by exec, unlike ru_maxrss)
        hwm = next(
            int(line.split()[1])
            for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith("VmHWM:")
        )
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        Path(peak_file).write_text(json.dumps({"self_kib": hwm, "children_kib": kids}))


def _tree_rss(pid: int) -> int:
    """Summed RSS (bytes) of ``pid`` and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{d}/statm") as f:
                rss[int(d)] = int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(parts[1]), []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        q = todo.pop()
        total += rss.get(q, 0)
        todo += children.get(q, [])
    return total


def time_stage(stage: str, folder: Path, workers: int, log: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    peak_file = folder / f".peak-{stage}.json"
    peak_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--run-stage",
            stage,
            "--folder",
            str(folder),
            "--workers",
            str(workers),
            "--peak-file",
            str(peak_file),
        ],
        cwd=ROOT,
        env=env,
    )
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2):
            peak[0] = max(peak[0], _tree_rss(proc.pid))

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, status, _ = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    th.join()
    own = json.loads(peak_file.read_text()) if peak_file.is_file() else {}
    rec = {
        "stage": stage,
        "seconds": round(time.perf_counter() - t0, 1),
        "peak_rss_mib": round(own["self_kib"] / 1024) if own else None,
        "peak_child_rss_mib": round(own["children_kib"] / 1024) if own else None,
        "peak_tree_rss_mib": round(peak[0] / 2**20),
        "rc": proc.returncode,
        "load_avg": round(os.getloadavg()[0], 1),
        "at": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    with open(log, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)
    return rec


def table(base: Path) -> str:
    rows = {}
    for res in sorted(base.glob("scale-*/results.jsonl")):
        scale = res.parent.name.split("-", 1)[1]
        if scale not in ("1", "10"):
            continue  # other scales are smoke runs
        for line in res.read_text().splitlines():
            r = json.loads(line)
            if r["stage"] == "generate" and scale in rows.get("generate", {}):
                continue  # a later call only found the videos written: keep the first, which wrote them
            rows.setdefault(r["stage"], {})[scale] = r
    scales = sorted({s for r in rows.values() for s in r}, key=int, reverse=True)
    label = {s: "full" if s == "1" else f"1/{s}" for s in scales}
    head = ["stage"] + [f"{label[s]}: {what}" for s in scales for what in ("s", "peak RSS MiB", "tree MiB")]
    out = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for stage in [s for s in ("generate",) + STAGES if s in rows]:
        cells = [stage]
        for s in scales:
            r = rows[stage].get(s)
            cells += [
                "" if r is None else (f"{r['seconds']}" + ("" if r.get("rc", 0) == 0 else f" (rc {r['rc']})")),
                "" if r is None or r.get("peak_rss_mib") is None else str(r["peak_rss_mib"]),
                "" if r is None or r.get("peak_tree_rss_mib") is None else str(r["peak_tree_rss_mib"]),
            ]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=int, default=10, help="keep every SCALE-th video (1: full scale)")
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages to time, in order")
    ap.add_argument("--workers", type=int, default=1, help="decode workers of extract_split")
    ap.add_argument("--jobs", type=int, default=2, help="processes writing the videos")
    ap.add_argument("--base", default="build/bench", help="parent folder of scale-<scale>/")
    ap.add_argument("--table", action="store_true", help="print the markdown table of the results and exit")
    ap.add_argument("--run-stage", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--peak-file", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.run_stage:
        run_stage(args.run_stage, Path(args.folder), args.workers, args.peak_file)
        return 0
    base = ROOT / args.base
    if args.table:
        print(table(base))
        return 0
    folder = base / f"scale-{args.scale}"
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "results.jsonl"
    from machine import cpu_model

    print(
        f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; python {sys.version.split()[0]}; "
        f"date {_dt.datetime.now().isoformat(timespec='minutes')}",
        flush=True,
    )
    t0 = time.perf_counter()
    summary = generate(folder, args.scale, jobs=args.jobs)
    rec = {
        "stage": "generate",
        "seconds": round(time.perf_counter() - t0, 1),
        "peak_rss_mib": None,
        "peak_tree_rss_mib": None,
        "summary": summary,
        "at": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    with open(log, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)
    for stage in [s for s in args.stages.split(",") if s]:
        if time_stage(stage, folder, args.workers, log)["rc"] != 0:
            print(f"stage {stage} failed; stopping", flush=True)
            return 1
    print(f"own peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
