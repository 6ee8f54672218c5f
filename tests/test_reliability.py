"""Issue 10: a real run never hangs, never computes twice, never ends quietly with holes.

Real H.264 files, a real tiny checkpoint, real processes (started together, hung, refused),
real papermill runs. Each test fails on the code before the fix.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ucf_nb.demo import make_demo_encoder
from ucf_nb.demo.synthetic import write_synthetic_video
from ucf_nb.video.sampling import clip_windows

S = 64
T = 8
FAST = dict(img_size=S, preprocessing="seed", num_workers=0, batch_size=4, precision="fp32", progress=False)
PROJECT = Path(__file__).resolve().parents[1]

# (split, y, category, file, frames written (None: not a video), frames the index claims)
VIDEOS = [
    ("train", 0, "Normal", "Normal_Videos001_x264.mp4", 160, 160),
    ("train", 1, "Abuse", "Abuse001_x264.mp4", 96, 96),
    ("val", 1, "Arson", "Arson001_x264.mp4", 80, 80),
    ("val", 0, "Normal", "Normal_Videos003_x264.mp4", 64, 64),
    ("test", 1, "Fighting", "Fighting001_x264.mp4", 64, 64),
    ("test", 0, "Normal", "Normal_Videos004_x264.mp4", None, 64),  # exists, but is not a video
]


def _write_index(folder: Path, videos=VIDEOS, name="index_clips.csv") -> Path:
    recs = []
    for i, (split, y, cat, fname, n_written, n_claimed) in enumerate(videos):
        path = folder / "videos" / fname
        path.parent.mkdir(parents=True, exist_ok=True)
        if n_written is None:
            path.write_bytes(b"this is not an mp4 file" * 10)
        elif not path.exists():
            write_synthetic_video(path, n_written, seed=i, width=160, height=120)
        for k, (a, b) in enumerate(clip_windows(n_claimed, 32, 16)):
            recs.append(
                dict(
                    split=split,
                    y=y,
                    category=cat,
                    path=str(path),
                    clip_idx=k,
                    start_frame=int(a),
                    end_frame=int(b),
                    clip_len=32,
                    stride=16,
                    fps=30.0,
                    n_frames=n_claimed,
                    video=fname,
                    anomaly_frac=np.nan,
                )
            )
    df = pd.DataFrame(recs)
    index_path = folder / name
    df.to_csv(index_path, index=False)
    return index_path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reliability")
    index_path = _write_index(folder)
    enc = make_demo_encoder(folder / "encoder", img_size=S)
    return {"folder": folder, "index": index_path, "encoder": enc}


def _run(data, out, split="train", **kw):
    from ucf_nb import extract_split

    return extract_split(split, data["index"], out_dir=out, checkpoint=data["encoder"], **{**FAST, **kw})


def _arrays(out, split):
    return {f: np.load(Path(out) / f"{f}_{split}.npy") for f in ("emb", "y", "rows", "status")}


def _assert_same(a, b):
    for f in a:
        assert a[f].tobytes() == b[f].tobytes(), f  # byte for byte, NaN rows included


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """Uninterrupted, single-process runs of train and val (batch_size 1: the bytes of an
    embedding do not depend on which clips share its batch)."""
    out = tmp_path_factory.mktemp("ref") / "out"
    for split in ("train", "val"):
        assert _run(data, out, split=split, batch_size=1)["complete"]
    return out


def _python(
    code: str,
    tmp_path: Path,
    name: str = "script.py",
    env: dict | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``code`` as a script file (not -c: a script is what re-imports itself in workers)
    in a fresh interpreter, with a deadline."""
    script = tmp_path / name
    script.write_text(textwrap.dedent(code))
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT), **(env or {})}
    try:
        return subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=str(tmp_path),
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{name} did not finish within {timeout} s (hung): {str(exc.stderr)[-1500:]}")


OPENCV_FIRST = """
import numpy as np, cv2
frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
cv2.GaussianBlur(cv2.resize(frame, (320, 240)), (0, 0), 3)  # the parent's OpenCV pool is now up
"""


# ------------------------------------------------------------------ 1. no hang after OpenCV


@pytest.mark.slow
@pytest.mark.parametrize("num_workers", [1, 2])
def test_workers_do_not_hang_after_opencv_was_used(data, reference, tmp_path, num_workers):
    out = tmp_path / "out"
    r = _python(
        OPENCV_FIRST
        + f"""
from ucf_nb import extract_split
r = extract_split("val", {str(data["index"])!r}, out_dir={str(out)!r}, checkpoint={str(data["encoder"])!r},
                  img_size={S}, preprocessing="seed", num_workers={num_workers}, batch_size=1, precision="fp32",
                  progress=False, stall_timeout=120)
print("RESULT", r["complete"], r["n_embedded"])
""",
        tmp_path,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "RESULT True 7" in r.stdout
    _assert_same(_arrays(reference, "val"), _arrays(out, "val"))


@pytest.mark.slow
def test_workers_do_not_hang_after_build_index(demo_dir, tmp_path):
    out = tmp_path / "out"
    r = _python(
        f"""
from ucf_nb import build_index, extract_split
build_index({str(demo_dir / "UCF_Crime")!r}, index_path={str(tmp_path / "index.csv")!r}, num_workers=2)
r = extract_split("val", {str(tmp_path / "index.csv")!r}, out_dir={str(out)!r},
                  checkpoint={str(demo_dir / "encoder")!r}, num_workers=2, batch_size=4, device="cpu",
                  precision="fp32", pooling="mean", limit=6, progress=False, stall_timeout=120)
print("RESULT", r["complete"], r["n_embedded"])
""",
        tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "RESULT True 6" in r.stdout


@pytest.mark.slow
def test_watchdog_names_the_segment_and_the_run_resumes(data, reference, tmp_path):
    """Workers forced back onto fork after OpenCV use really hang; the watchdog stops the
    run naming what each worker was decoding, and the same command then finishes."""
    out = tmp_path / "out"
    r = _python(
        OPENCV_FIRST
        + f"""
import multiprocessing, time
import ucf_nb.video.workers
from ucf_nb import extract_split, ExtractStalledError
args = ("val", {str(data["index"])!r})
kw = dict(out_dir={str(out)!r}, checkpoint={str(data["encoder"])!r}, img_size={S}, preprocessing="seed", num_workers=2,
          batch_size=1, precision="fp32", progress=False)
safe = ucf_nb.video.workers.worker_context
ucf_nb.video.workers.worker_context = lambda: multiprocessing.get_context("fork")  # the old, unsafe way
t0 = time.monotonic()
try:
    extract_split(*args, stall_timeout=10, **kw)
    print("NO STALL")
except ExtractStalledError as exc:
    print("STALLED", round(time.monotonic() - t0), "|", exc)
ucf_nb.video.workers.worker_context = safe
r = extract_split(*args, stall_timeout=120, **kw)
print("RESULT", r["complete"], r["n_embedded"])
""",
        tmp_path,
        timeout=280,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(x for x in r.stdout.splitlines() if x.startswith(("STALLED", "NO STALL")))
    assert line.startswith("STALLED"), r.stdout
    msg = line.split("|", 1)[1]
    assert "no batch arrived for 10 s" in msg and "split 'val'" in msg
    assert "worker 0 (pid" in msg and "worker 1 (pid" in msg and "was decoding" in msg
    assert "Arson001_x264.mp4" in msg or "Normal_Videos003_x264.mp4" in msg
    assert "frames [" in msg and "run the same command again" in msg
    assert "RESULT True 7" in r.stdout
    _assert_same(_arrays(reference, "val"), _arrays(out, "val"))


# ---------------------------------------------------------------------- 2. one run per shard


@pytest.mark.slow
def test_two_runs_on_one_shard_one_works_the_other_is_refused(data, reference, tmp_path):
    out = tmp_path / "out"
    code = f"""
import sys, json
from ucf_nb import extract_split, ShardBusyError
try:
    r = extract_split("train", {str(data["index"])!r}, out_dir={str(out)!r}, checkpoint={str(data["encoder"])!r},
                      img_size={S}, preprocessing="seed", num_workers=0, batch_size=1, precision="fp32", progress=False)
    print("DONE", json.dumps({{k: r[k] for k in ("complete", "n_embedded", "n_clips")}}))
except ShardBusyError as exc:
    loaded = any(m == "transformers" or m.startswith("transformers.") for m in sys.modules)
    print("BUSY", loaded, "|", exc)
"""
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(code))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(PROJECT), "SLURM_JOB_ID": f"77{k}"},
        )
        for k in range(2)
    ]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=240))
        finally:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
    done = [o for o, _ in outs if o.startswith("DONE")]
    busy = [(k, o) for k, (o, _) in enumerate(outs) if o.startswith("BUSY")]
    assert len(done) == 1 and len(busy) == 1, outs
    k, msg = busy[0]
    assert msg.startswith("BUSY False")  # refused before the model (transformers) was even imported
    other = procs[1 - k].pid
    assert f"pid {other} on host {socket.gethostname()}" in msg and f"SLURM job 77{1 - k}" in msg
    assert "shard 1 of 1 of split 'train'" in msg and "wait for it to finish" in msg and ".lock" in msg
    assert json.loads(done[0].split(" ", 1)[1])["n_embedded"] == json.loads(done[0].split(" ", 1)[1])["n_clips"]
    _assert_same(_arrays(reference, "train"), _arrays(out, "train"))
    from ucf_nb import read_manifest

    entry = read_manifest(out)["splits"]["train"]
    assert sum(s["n_embedded"] for s in entry["shards"]) == entry["n_clips"]  # each clip embedded once
    assert not list((out / ".extract-locks").glob("*.lock"))


def test_lock_of_a_dead_process_or_a_silent_host_is_broken(tmp_path):
    from ucf_nb.store.shardlock import ShardBusyError, hold_shard_lock

    lock = hold_shard_lock(tmp_path, "train", 0, 2)
    with pytest.raises(ShardBusyError, match=rf"pid {os.getpid()} on host"):
        hold_shard_lock(tmp_path, "train", 0, 2)
    with hold_shard_lock(tmp_path, "train", 1, 2):  # another shard of the split runs at once
        pass
    lock.release()
    path = tmp_path / ".extract-locks" / "train.shard-0-of-2.lock"
    assert not path.exists()
    # a dead process on this host: broken at once
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "started_at": "x"}))
    hold_shard_lock(tmp_path, "train", 0, 2).release()
    # another host: live while its heartbeat is fresh, stale once it is older than stale_after
    path.write_text(json.dumps({"host": "node-elsewhere", "pid": 1, "started_at": "x", "slurm_job_id": "42"}))
    with pytest.raises(ShardBusyError, match=r"pid 1 on host node-elsewhere.*SLURM job 42"):
        hold_shard_lock(tmp_path, "train", 0, 2, stale_after=60, heartbeat_every=1)
    old = time.time() - 120
    os.utime(path, (old, old))
    hold_shard_lock(tmp_path, "train", 0, 2, stale_after=60, heartbeat_every=1).release()


def test_a_held_lock_keeps_its_heartbeat(tmp_path):
    from ucf_nb.store.shardlock import hold_shard_lock

    with hold_shard_lock(tmp_path, "val", heartbeat_every=0.2, stale_after=5) as lock:
        old = time.time() - 100
        os.utime(lock.path, (old, old))
        time.sleep(1.0)
        assert time.time() - lock.path.stat().st_mtime < 5


# ------------------------------------------------------------------ 3. failures impossible to miss


def test_on_error_raise_stops_at_the_first_unreadable_video(data, tmp_path):
    from ucf_nb import VideoError

    out = tmp_path / "out"
    with pytest.raises(VideoError, match=r"Normal_Videos004_x264\.mp4.*moov atom not found.*on_error='skip'"):
        _run(data, out, split="test", on_error="raise", batch_size=1)
    status = np.load(out / ".extract" / "test" / "shard-0-of-1" / "status.npy")
    assert (status == 1).sum() == 3 and not (status == 2).any()  # Fighting001 kept, nothing marked failed
    r = _run(data, out, split="test", on_error="skip", batch_size=1)  # the same command, skipping, resumes
    assert r["complete"] and r["n_embedded"] == 0 and r["n_failed"] == 3
    with pytest.raises(ValueError, match=r"on_error must be one of \('skip', 'raise'\), got on_error='ignore'"):
        _run(data, tmp_path / "o2", split="test", on_error="ignore")


def test_failed_clips_are_reported_with_reason_and_never_called_all_finite(data, tmp_path):
    import ucf_nb
    from ucf_nb.store import embedding_stats

    out = tmp_path / "out"
    _run(data, out, split="test")
    X, y, rows = ucf_nb.load_embeddings(out, "test")
    stats = embedding_stats(X, y).iloc[0]
    assert stats["n_clips"] == 6 and stats["n_failed"] == 3 and stats["n_embedded"] == 3 and stats["n_finite"] == 3
    assert not bool(stats["all_finite"])
    fail = ucf_nb.extraction_failures(out, "test")
    assert fail and fail.n_failed == 3 and fail.n_clips == 6
    assert fail.videos["video"].tolist() == ["Normal_Videos004_x264.mp4"]
    assert fail.videos["failed_clips"].tolist() == [3]
    text = str(fail)
    assert text.startswith("3 of 6 clips of split 'test' failed, from 1 video(s): Normal_Videos004_x264.mp4 (3 clips)")
    assert "moov atom not found" in text and "run the same command again" in text and "resume=False" not in text
    html = fail._repr_html_()
    assert 'class="admonition warning"' in html and "Normal_Videos004_x264.mp4" in html
    assert _run(data, tmp_path / "ok", split="val")["complete"]
    ok = ucf_nb.extraction_failures(tmp_path / "ok", "val")
    assert not ok and "admonition" not in ok._repr_html_() and "all 7 clips have embeddings" in str(ok)


@pytest.mark.slow
@pytest.mark.parametrize("num_workers", [0, 2])
def test_ffmpeg_and_opencv_lines_never_reach_the_terminal(data, tmp_path, num_workers):
    out = tmp_path / "out"
    r = _python(
        f"""
from ucf_nb import extract_split, read_manifest
r = extract_split("test", {str(data["index"])!r}, out_dir={str(out)!r}, checkpoint={str(data["encoder"])!r},
                  img_size={S}, preprocessing="seed", num_workers={num_workers}, batch_size=2, precision="fp32",
                  progress=True)
print("FAILED", r["n_failed"], read_manifest({str(out)!r})["splits"]["test"]["failed_clips"][0]["error"])
""",
        tmp_path,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    said = r.stdout + r.stderr
    assert "FAILED 3 " in r.stdout and "moov atom not found" in r.stdout  # in the recorded reason ...
    terminal = said.replace(r.stdout.split("FAILED", 1)[1], "")
    for needle in ("moov atom", "[ WARN", "global cap.cpp", "@ 0x"):
        assert needle not in terminal, terminal[-2000:]  # ... and nowhere else


def test_split_rows_are_checked_before_any_work(data, tmp_path):
    from ucf_nb import IndexValidationError, validate_index

    df = pd.read_csv(data["index"])
    i = int(np.flatnonzero(df["split"] == "val")[-1])
    df.loc[i, ["clip_idx", "start_frame", "end_frame"]] = [4, 64, 96]  # past the video's 64 frames
    df = pd.concat([df, df[df["split"] == "val"].iloc[:1]], ignore_index=True)  # a duplicate clip
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    expected = validate_index(df[df["split"] == "val"], strict=False, check_files=False).message()
    assert "end_within_video failed" in expected and "duplicate_clips failed" in expected
    with pytest.raises(IndexValidationError) as info:
        # a checkpoint that does not exist: the index check must come first
        from ucf_nb import extract_split

        extract_split("val", bad, out_dir=tmp_path / "out", checkpoint=tmp_path / "no_such_checkpoint", **FAST)
    assert str(info.value) == expected
    assert not (tmp_path / "out").exists()


def test_intro_says_how_many_clips_the_probe_left_out():
    from ucf_nb.report import write_intro

    manifest = {
        "model": {"checkpoint": "c"},
        "index": {},
        "splits": {
            "train": {"n_clips": 10, "n_done": 8, "n_failed": 2},
            "test": {"n_clips": 5, "n_done": 5, "n_failed": 0},
        },
    }
    metrics = {
        "clip_auc_test": 0.5,
        "counts": {
            "train": {"n_clips": 10, "n_scored": 8, "n_failed": 2},
            "test": {"n_clips": 5, "n_scored": 5, "n_failed": 0},
        },
    }
    text = write_intro(manifest, metrics)
    assert "```{warning}\nSome clips could not be embedded (train: 2 of 10 clips)" in text
    assert "Clips left out of the probe because their embedding failed (NaN rows): train 2 of 10, test 0 of 5." in text


# ------------------------------------------------- 3b. failed clips are retried by the same command


def _junk_copy(data, tmp_path, video):
    """data with its own index, whose ``video`` rows read a file of junk in tmp_path (the
    index rows, and so the arrays' rows, stay those of data's index). Returns (data, the
    good file, the junk file)."""
    df = pd.read_csv(data["index"])
    mine = df["video"] == video
    good = Path(df.loc[mine, "path"].iloc[0])
    junk = tmp_path / "videos" / video
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"this is not an mp4 file" * 10)
    df.loc[mine, "path"] = str(junk)
    df.to_csv(tmp_path / "index_clips.csv", index=False)
    return {**data, "index": tmp_path / "index_clips.csv"}, good, junk


def _untouched(out, split):
    """Bytes, inode and mtime of each public array of ``split``."""
    return {
        f: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns)
        for f in ("emb", "y", "rows", "status")
        for p in [Path(out) / f"{f}_{split}.npy"]
    }


SHARD = [dict(shard_index=0, num_shards=2), dict(shard_index=1, num_shards=2)]  # Abuse001 is all of shard 2


@pytest.mark.parametrize(
    "first, again",
    [([{}], [{}]), (SHARD, [{}]), (SHARD[1:], SHARD[::-1])],
    ids=["finished", "finished-in-shards-then-one-call", "unfinished-shard"],
)
def test_a_replaced_video_is_embedded_by_the_same_command_and_nothing_else_changes(
    data, reference, tmp_path, first, again
):
    """Run 1 cannot read Abuse001 (5 clips); the file is replaced; the same call embeds exactly
    those 5 clips, every other row stays byte for byte, and the split equals a clean run's."""
    from ucf_nb import extraction_failures, load_embeddings, read_manifest
    from ucf_nb.store import embedding_stats

    junky, good, junk = _junk_copy(data, tmp_path, "Abuse001_x264.mp4")
    out = tmp_path / "out"
    runs = [_run(junky, out, batch_size=1, **kw) for kw in first]
    assert sum(r["n_failed"] for r in runs) == 5 and sum(r["n_embedded"] for r in runs) == 9 * runs[-1]["complete"]
    before = _arrays(out, "train") if runs[-1]["complete"] else None
    shutil.copyfile(good, junk)
    r = _run(junky, out, batch_size=1, **again[0])
    assert r["n_embedded"] == 5 and r["n_failed"] == 0, r
    assert [_run(junky, out, batch_size=1, **kw)["complete"] for kw in again[1:]] == [True] * (len(again) - 1)
    after = _arrays(out, "train")
    if before is not None:
        ok = before["status"] == 1
        assert ok.sum() == 9 and np.isnan(before["emb"][~ok].astype(np.float32)).all()
        assert after["emb"][ok].tobytes() == before["emb"][ok].tobytes()
    _assert_same(after, _arrays(reference, "train"))
    e = read_manifest(out)["splits"]["train"]
    assert (e["n_done"], e["n_failed"], e["failed_clips"], e["n_short"]) == (14, 0, [], 0)
    assert [x["n_embedded"] for x in e.get("retries", [])] == ([5] if before is not None else [])
    X, y, _ = load_embeddings(out, "train")
    stats = embedding_stats(X, y).iloc[0]  # notebook 02's counts
    assert (stats["n_embedded"], stats["n_failed"], stats["n_finite"], bool(stats["all_finite"])) == (14, 0, 14, True)
    assert not extraction_failures(out, "train")
    files = _untouched(out, "train")
    r = _run(junky, out, batch_size=1, **again[0])  # and again: nothing left to do
    assert r["complete"] and r["n_embedded"] == r["n_failed"] == 0 and _untouched(out, "train") == files
    assert not (out / ".extract" / "train").exists()


def test_a_video_still_broken_stays_failed_with_its_latest_reason_and_nothing_else_is_touched(data, tmp_path):
    from ucf_nb import extraction_failures, load_embeddings, read_manifest
    from ucf_nb.store import embedding_stats

    junky, _, junk = _junk_copy(data, tmp_path, "Normal_Videos004_x264.mp4")
    out = tmp_path / "out"
    assert _run(junky, out, split="test")["n_failed"] == 3
    files, manifest = _untouched(out, "test"), (out / "manifest.json").read_bytes()
    r = _run(junky, out, split="test")  # still junk: its 3 clips, and only they, are tried again
    assert r["complete"] and (r["n_embedded"], r["n_failed"]) == (0, 3)
    assert _untouched(out, "test") == files
    assert (out / "manifest.json").read_bytes() == manifest  # a retry that changed nothing is not recorded
    e = read_manifest(out)["splits"]["test"]
    assert [c["row"] for c in e["failed_clips"]] == sorted({c["row"] for c in e["failed_clips"]})
    assert len(e["failed_clips"]) == 3 and all("moov atom not found" in c["error"] for c in e["failed_clips"])
    fail = extraction_failures(out, "test")
    assert fail.n_failed == 3 and fail.videos["failed_clips"].tolist() == [3]
    # now a real file of 10 frames where the index expects 64: clip [0, 32) is embedded (short),
    # [16, 48) and [32, 64) fail again, for a new reason that replaces the old one
    old = _arrays(out, "test")
    junk.unlink()
    write_synthetic_video(junk, 10, seed=5, width=160, height=120)
    r = _run(junky, out, split="test")
    assert (r["n_embedded"], r["n_failed"]) == (1, 2)
    new = _arrays(out, "test")
    kept = old["status"] == 1  # Fighting001's 3 clips
    assert kept.sum() == 3 and new["emb"][kept].tobytes() == old["emb"][kept].tobytes()
    assert new["status"].tolist() == [1, 1, 1, 1, 2, 2] and np.isfinite(new["emb"][3].astype(np.float32)).all()
    e = read_manifest(out)["splits"]["test"]
    assert (e["n_done"], e["n_failed"], e["n_short"]) == (4, 2, 1) and len(e["retries"]) == 1
    assert [c["row"] for c in e["failed_clips"]] == new["rows"][4:].tolist()
    assert all("only 10 frames decode" in c["error"] and "moov" not in c["error"] for c in e["failed_clips"])
    assert [c["row"] for c in e["short_clips"]] == [int(new["rows"][3])] and 0 < e["short_clips"][0]["n_real"] < T
    X, y, _ = load_embeddings(out, "test")
    stats = embedding_stats(X, y).iloc[0]
    assert (stats["n_embedded"], stats["n_failed"], stats["n_finite"]) == (4, 2, 4)
    text = str(extraction_failures(out, "test"))
    assert text.startswith("2 of 6 clips of split 'test' failed") and "moov atom" not in text


# ----------------------------------------------------------------------- 4. faults while writing


def test_disk_full_mid_run_stops_with_one_sentence_then_resumes_byte_identical(data, reference, tmp_path, monkeypatch):
    import ucf_nb.store.arrays as store
    from ucf_nb import StoreWriteError

    monkeypatch.setattr(store.ShardWriter, "COMMIT_EVERY", 0.0)
    real = store._write_at
    calls = {"n": 0}

    def full_after_a_while(fd, data_, offset):
        calls["n"] += 1
        if calls["n"] > 9:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data_, offset)

    monkeypatch.setattr(store, "_write_at", full_after_a_while)
    out = tmp_path / "out"
    with pytest.raises(StoreWriteError) as info:
        _run(data, out, split="train", batch_size=1)
    msg = str(info.value)
    assert str(out) in msg and "No space left on device" in msg and "ENOSPC" in msg
    assert "run the same command again" in msg and "\n" not in msg and info.value.errno == errno.ENOSPC
    status = np.load(out / ".extract" / "train" / "shard-0-of-1" / "status.npy")
    assert 0 < (status == 1).sum() < len(status)
    monkeypatch.setattr(store, "_write_at", real)  # the disk has room again
    r = _run(data, out, split="train", batch_size=1)
    assert r["complete"] and 0 < r["n_embedded"] < r["n_clips"]
    _assert_same(_arrays(reference, "train"), _arrays(out, "train"))


def test_unwritable_out_dir_is_refused_before_the_model_loads(data, tmp_path):
    a_file = tmp_path / "not_a_folder"
    a_file.write_text("x")
    from ucf_nb import extract_split

    with pytest.raises(
        PermissionError, match=r"out_dir .*not_a_folder/processed is not writable \(.*\): pass an out_dir"
    ):
        extract_split(
            "val", data["index"], out_dir=a_file / "processed", checkpoint=tmp_path / "no_such_checkpoint", **FAST
        )
    if os.geteuid() != 0:  # root writes anywhere: a read-only folder only stops other users
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(PermissionError, match="is not writable"):
            extract_split("val", data["index"], out_dir=ro, checkpoint=tmp_path / "no_such_checkpoint", **FAST)


def test_a_pickle_checkpoint_that_runs_code_is_refused(tmp_path):
    import torch
    from safetensors.torch import load_file

    from ucf_nb.encoders import EncoderLoadError, load_encoder

    folder = Path(make_demo_encoder(tmp_path / "evil", img_size=S))
    marker = tmp_path / "code_ran"

    class RunsCode:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    sd = load_file(folder / "model.safetensors")
    sd["extra"] = RunsCode()
    torch.save(sd, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(
        EncoderLoadError,
        match=r"pytorch_model\.bin' was refused: .*would run code.*io\.open.*"
        r"safetensors",
    ):
        load_encoder(folder, device="cpu", precision="fp32", pooling="mean")
    assert not marker.exists()
    # the same weights without the extra object load through the same weights_only path
    torch.save({k: v for k, v in sd.items() if k != "extra"}, folder / "pytorch_model.bin")
    enc = load_encoder(folder, device="cpu", precision="fp32", pooling="mean")
    assert enc.embedding_dim > 0


# ----------------------------------------------------------------- 5. the prototype's own index


def test_an_index_with_only_the_prototype_columns_gets_its_video_column(data, tmp_path):
    from ucf_nb import read_index
    from ucf_nb.index.build import INDEX_COLUMNS

    df = pd.read_csv(data["index"])[INDEX_COLUMNS]
    df.to_csv(tmp_path / "proto.csv", index=False)
    got = read_index(tmp_path / "proto.csv")
    assert got["video"].tolist() == pd.read_csv(data["index"])["video"].tolist()


@pytest.mark.slow
def test_prototype_index_runs_01_02_03_with_frame_level_auc(demo_dir, tmp_path):
    import papermill as pm

    from ucf_nb import build_index
    from ucf_nb.index.build import INDEX_COLUMNS

    full = build_index(demo_dir / "UCF_Crime", index_path=tmp_path / "full.csv", probe_threads=0)
    proto = tmp_path / "index_clips.csv"
    pd.read_csv(tmp_path / "full.csv")[INDEX_COLUMNS].to_csv(proto, index=False)
    assert list(pd.read_csv(proto).columns) == INDEX_COLUMNS and len(full)
    out = tmp_path / "processed"
    nb = PROJECT / "notebooks"
    run = dict(progress_bar=False, kernel_name="python3", cwd=str(tmp_path))
    pm.execute_notebook(
        str(nb / "01_index_checks.ipynb"), str(tmp_path / "01.ipynb"), parameters=dict(index_path=str(proto)), **run
    )
    for split in ("train", "val", "test"):
        pm.execute_notebook(
            str(nb / "02_extract.ipynb"),
            str(tmp_path / f"02_{split}.ipynb"),
            parameters=dict(
                split=split,
                index_path=str(proto),
                out_dir=str(out),
                checkpoint=str(demo_dir / "encoder"),
                batch_size=8,
                num_workers=0,
                device="cpu",
                precision="fp32",
                pooling="mean",
            ),
            **run,
        )
    ann = demo_dir / "UCF_Crime" / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    pm.execute_notebook(
        str(nb / "03_probe.ipynb"),
        str(tmp_path / "03.ipynb"),
        parameters=dict(out_dir=str(out), annotation_path=str(ann)),
        **run,
    )
    metrics = json.loads((out / "probe" / "metrics.json").read_text())
    assert metrics["frame_auc_test"] is not None and 0.0 <= metrics["frame_auc_test"] <= 1.0
    assert "frame_auc_test" not in metrics.get("missing_reasons", {})


def test_decoding_a_damaged_stream_prints_nothing(lying_video, garbage_video, capfd):
    """FFmpeg's per-frame complaints (``[h264 @ 0x...] Invalid NAL unit size``) and OpenCV's
    ``[ WARN...] global cap.cpp`` lines stay off the screen; an unreadable file's reason
    carries their text."""
    from ucf_nb import VideoError
    from ucf_nb.video.decode import iter_video_frames

    n = sum(1 for _ in iter_video_frames(lying_video, range(0, 200, 10)))
    assert 0 < n < 20
    with pytest.raises(VideoError, match="FFmpeg/OpenCV said: .*"):
        next(iter_video_frames(garbage_video, [0]))
    out, err = capfd.readouterr()
    assert out == "" and err == "", err[-1000:]
