"""submit_extraction: shards as tasks of a real one-node SLURM cluster, or as local processes.

The SLURM tests start Debian's slurm-wlm on this machine (tests/slurm/start_cluster.sh, which
needs root, slurm-wlm and munge; .ci/run installs them) and stop what they started; they skip
with the reason where it cannot start. Every task is tiny: a few 160x120 videos, a 64-pixel
random encoder, CPU, no DataLoader workers.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ucf_nb.sampling import clip_windows
from ucf_nb.synthetic import write_synthetic_video

ROOT = Path(__file__).resolve().parents[1]
S = 64
FAST = dict(img_size=S, preprocessing="seed", num_workers=0, batch_size=1, precision="fp32", device="cpu",
            progress=False)
FILES = ("emb", "y", "rows", "status")
# (split, y, category, file name, frames); None frames: listed in the index, never written
VIDEOS = [
    ("train", 0, "Normal", "Normal_Videos001_x264.mp4", 240),
    ("train", 1, "Abuse", "Abuse001_x264.mp4", 96),
    ("train", 0, "Normal", "Normal_Videos002_x264.mp4", 240),
    ("val", 1, "Arson", "Arson001_x264.mp4", 96),
    ("val", 0, "Normal", "Normal_Videos003_x264.mp4", 80),
]
MISSING_VAL = ("val", 0, "Normal", "Normal_Videos009_x264.mp4", None)


def _write_index(folder: Path, videos, name: str) -> Path:
    recs = []
    for i, (split, y, cat, name, n) in enumerate(videos):
        path = folder / "videos" / name
        if n is not None and not path.exists():
            write_synthetic_video(path, n, seed=i, width=160, height=120)
        for k, (a, b) in enumerate(clip_windows(n or 64, 32, 16)):
            recs.append(dict(split=split, y=y, category=cat, path=str(path), clip_idx=k, start_frame=int(a),
                             end_frame=int(b), clip_len=32, stride=16, fps=30.0, n_frames=n or 64, video=name,
                             anomaly_frac=np.nan))
    index_path = folder / name
    pd.DataFrame(recs).to_csv(index_path, index=False)
    return index_path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two indexes (all videos present; val with one missing), the encoder and single-process
    reference arrays of train and val."""
    from ucf_nb import extract_split
    from ucf_nb.demo import make_demo_encoder

    folder = tmp_path_factory.mktemp("launch")
    index = _write_index(folder, VIDEOS, "index.csv")
    broken = _write_index(folder, VIDEOS[:4] + [MISSING_VAL], "index_missing_val.csv")
    encoder = make_demo_encoder(folder / "encoder", image_size=S)
    ref = folder / "ref"
    for split in ("train", "val"):
        assert extract_split(split, index, ref, encoder, **FAST)["complete"]
    return {"folder": folder, "index": index, "broken": broken, "encoder": encoder, "ref": ref}


def _arrays(out, split):
    return {f: (Path(out) / f"{f}_{split}.npy").read_bytes() for f in FILES}


def _assert_identical(out, ref, split):
    a, b = _arrays(out, split), _arrays(ref, split)
    for f in FILES:
        assert a[f] == b[f], f"{f}_{split}.npy differs from the single-process run"


def _cli(data, out, *args, index=None):
    params = dict(FAST, index_path=str(index or data["index"]), out_dir=str(out), checkpoint=str(data["encoder"]))
    cmd = [sys.executable, "-m", "ucf_nb.report", "extract", "--poll-s", "1", *args]
    for k, v in params.items():
        cmd += ["-p", f"{k}={v}"]
    return cmd


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _run(cmd, timeout=600):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


# ----------------------------------------------------------------------- fast: no task runs

def test_slurm_options_parse_and_bad_input_is_named(tmp_path):
    from ucf_nb.launch import parse_slurm_options, submit_extraction

    assert parse_slurm_options("partition=gpu, gpus_per_node=1,mem_gb=7.5,timeout_min=120") == {
        "partition": "gpu", "gpus_per_node": 1, "mem_gb": 7.5, "timeout_min": 120}
    with pytest.raises(ValueError, match="bad item 'gpu'"):
        parse_slurm_options("partition=a,gpu")
    with pytest.raises(ValueError, match="num_shards must be an int >= 1"):
        submit_extraction(["train"], 0)
    with pytest.raises(ValueError, match="'batchsize' is not a parameter of extract_split"):
        submit_extraction(["train"], 2, batchsize=4)
    with pytest.raises(ValueError, match="shard_index is set by the launcher"):
        submit_extraction(["train"], 2, shard_index=1)
    with pytest.raises(ValueError, match="resume=False is not supported"):
        submit_extraction(["train"], 2, resume=False)
    with pytest.raises(ValueError, match="executor must be one of"):
        submit_extraction(["train"], 2, executor="pbs")
    with pytest.raises(ValueError, match="distinct split names"):
        submit_extraction(["train", "train"], 2)
    with pytest.raises(FileNotFoundError, match="not found: run notebooks/00_build_index"):
        submit_extraction(["train"], 2, executor="local", index_path=str(tmp_path / "none.csv"))


def test_last_error_line_skips_progress_bars():
    from ucf_nb.launch import last_error_line

    log = ("ucf_nb: split 'val', shard 2 of 2\ntrain 1/2:  50%|#####     | 3/6 [00:01<00:01]\r"
           "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
           "FileNotFoundError: 1 of the 1 videos of split 'val' are not on disk\n"
           "submitit INFO (2026-01-01) - Exiting\n")
    assert last_error_line(log) == "FileNotFoundError: 1 of the 1 videos of split 'val' are not on disk"
    assert last_error_line("slurmstepd: error: *** JOB 7 ON vm CANCELLED AT 2026-01-01 ***\n").endswith("***")


def test_only_the_launcher_imports_submitit():
    code = ("import sys, ucf_nb, ucf_nb.report, ucf_nb.extract, ucf_nb.store, ucf_nb.probe, ucf_nb.index\n"
            "ucf_nb.report.main.__doc__\n"
            "assert 'submitit' not in sys.modules, 'submitit imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(), cwd=ROOT)


# --------------------------------------------------------------------------- local processes

def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the launcher ended before {path} appeared: {proc.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.01)


def _job_id(out: Path, split: str, shard: int) -> str:
    for _ in range(500):
        try:
            jobs = json.loads((out / "logs" / "jobs.json").read_text())["jobs"]
        except (FileNotFoundError, ValueError):
            jobs = []
        for e in jobs:
            if e["split"] == split and e["shard_index"] == shard:
                return str(e["job_id"])
        time.sleep(0.02)
    raise AssertionError(f"no job of {split} shard {shard} in {out / 'logs' / 'jobs.json'}")


@pytest.mark.slow
def test_local_kill_9_is_resubmitted_and_a_failing_shard_is_reported(data, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(_cli(data, out, "--executor", "local", "--max-parallel", "2", "--splits", "train",
                                 "val", "--num-shards", "2", "--max-retries", "1", index=data["broken"]),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(), cwd=ROOT)
    try:
        # kill -9 the task of train's first shard once it has started embedding
        _wait_for(out / ".extract" / "train" / "shard-0-of-2", proc)
        controller = int(_job_id(out, "train", 0))
        tasks = _children(controller)
        assert tasks, "the local task of train shard 1 has no process"
        for pid in tasks:
            os.kill(pid, signal.SIGKILL)
        text, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, text
    assert "train shard 1/2: " in text and "resubmitting (attempt 2 of 2)" in text, text
    _assert_identical(out, data["ref"], "train")
    # val's second shard (the missing video) failed twice: named with its log and last error line
    assert "val shard 2/2 failed 2 time(s)" in text, text
    assert "FileNotFoundError: 1 of the 1 videos of split 'val'" in text, text
    log = out / "logs" / "val" / "shard-1-of-2.log"
    assert f"log: {log.relative_to(ROOT) if log.is_relative_to(ROOT) else log}" in text, text
    assert "FileNotFoundError" in log.read_text()
    assert not (out / "emb_val.npy").exists()
    assert (out / ".extract" / "val" / "shard-0-of-2").is_dir()  # val's first shard is kept


@pytest.mark.slow
def test_local_run_equals_one_process_and_a_rerun_submits_nothing(data, tmp_path):
    from ucf_nb.launch import submit_extraction

    out = tmp_path / "out"
    lines = []
    params = dict(FAST, index_path=str(data["index"]), out_dir=str(out), checkpoint=str(data["encoder"]))
    jobs = submit_extraction(["train", "val"], 2, executor="local", max_parallel=2, poll_s=0.5, log=lines.append,
                             **params)
    assert [(j.split, j.shard_index, j.state) for j in jobs] == [
        ("train", 0, "done"), ("train", 1, "done"), ("val", 0, "done"), ("val", 1, "done")]
    for split in ("train", "val"):
        _assert_identical(out, data["ref"], split)
        for k in range(2):
            assert "ucf_nb: split" in (out / "logs" / split / f"shard-{k}-of-2.log").read_text()
    assert any(line.startswith("train: complete (2/2 shards)") for line in lines), lines
    again = []
    jobs = submit_extraction(["train", "val"], 2, executor="local", log=again.append, **params)
    assert {j.state for j in jobs} == {"finished"}
    assert again[-1] == "every split is finished: nothing submitted", again


# ------------------------------------------------------------------------------ real SLURM

@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running one-node SLURM cluster: the one SLURM_CONF names if it answers, else one
    started here (and stopped afterwards) with tests/slurm/start_cluster.sh."""
    def answers() -> bool:
        return shutil.which("sinfo") is not None and subprocess.run(
            ["sinfo", "-h"], capture_output=True, timeout=30).returncode == 0

    if answers():
        yield os.environ.get("SLURM_CONF")
        return
    state = tmp_path_factory.mktemp("slurm")
    proc = subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "start_cluster.sh"), str(state)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "stop_cluster.sh"), str(state)], timeout=120)
        pytest.skip((proc.stderr or proc.stdout).strip().splitlines()[-1] if (proc.stderr or proc.stdout).strip()
                    else "tests/slurm/start_cluster.sh failed")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(state / "slurm.conf")
    try:
        yield os.environ["SLURM_CONF"]
    finally:
        subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "stop_cluster.sh"), str(state)], timeout=120)
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old


@pytest.mark.slow
def test_slurm_arrays_equal_one_process_and_a_rerun_submits_nothing(data, slurm_cluster, tmp_path):
    out = tmp_path / "out"
    rc, text = _run(_cli(data, out, "--executor", "slurm", "--splits", "train", "val", "--num-shards", "2"))
    assert rc == 0, text
    assert "as SLURM job array" in text and "val: complete (2/2 shards)" in text, text
    for split in ("train", "val"):
        _assert_identical(out, data["ref"], split)
        for k in range(2):
            assert f"shard {k + 1} of 2" in (out / "logs" / split / f"shard-{k}-of-2.log").read_text()
    rc, text = _run(_cli(data, out, "--executor", "auto", "--splits", "train", "val", "--num-shards", "2"))
    assert rc == 0 and "every split is finished: nothing submitted" in text and "submitted" not in text.replace(
        "nothing submitted", ""), text


@pytest.mark.slow
def test_slurm_scancel_and_kill_9_are_resubmitted(data, slurm_cluster, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(_cli(data, out, "--executor", "slurm", "--splits", "train", "--num-shards", "2",
                                 "--max-retries", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(), cwd=ROOT)
    try:
        # scancel shard 1 and kill -9 the process of shard 2, each once it has started embedding
        _wait_for(out / ".extract" / "train" / "shard-0-of-2", proc)
        subprocess.run(["scancel", _job_id(out, "train", 0)], check=True)
        _wait_for(out / ".extract" / "train" / "shard-1-of-2", proc)
        job = _job_id(out, "train", 1)
        numeric = subprocess.run(["squeue", "-h", "-r", "-j", job, "-o", "%A"], capture_output=True,
                                 text=True).stdout.strip()  # the id of task 1 of array 8 ("8_1") is a number
        listed = subprocess.run(["scontrol", "listpids", numeric], capture_output=True, text=True).stdout.split("\n")
        pids = [int(ln.split()[0]) for ln in listed[1:] if ln.split() and ln.split()[0].isdigit()]
        task = [p for p in pids if b"submitit.core._submit" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert task, f"no task process in job {job}: {listed}"
        for pid in task:
            os.kill(pid, signal.SIGKILL)
        text, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, text
    assert "train shard 1/2: CANCELLED" in text, text
    assert "train shard 2/2: " in text and text.count("resubmitting (attempt 2 of 3)") == 2, text
    _assert_identical(out, data["ref"], "train")


@pytest.mark.slow
def test_slurm_failing_shard_is_reported_while_the_other_split_completes(data, slurm_cluster, tmp_path):
    out = tmp_path / "out"
    rc, text = _run(_cli(data, out, "--executor", "slurm", "--splits", "train", "val", "--num-shards", "2",
                         "--max-retries", "1", index=data["broken"]))
    assert rc == 1, text
    assert "val shard 2/2 failed 2 time(s)" in text and "train: complete (2/2 shards)" in text, text
    assert "FileNotFoundError: 1 of the 1 videos of split 'val'" in text, text
    assert "logs/val/shard-1-of-2.log" in text, text
    _assert_identical(out, data["ref"], "train")
    assert not (out / "emb_val.npy").exists()
