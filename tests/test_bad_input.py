"""Bad input gets one sentence, never a crash or a hang: real FIFOs, folders and non-UTF-8 names
under a dataset root, a non-UTF-8 byte in the index, a real full disk (a tiny tmpfs) under
``out_dir`` at each kind of write. Whatever could hang or crash runs in a subprocess with a
deadline."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_index import L, pristine_tree, tree  # noqa: F401  (fixtures)
from test_index import S as STRIDE

DEADLINE = 120  # seconds: today a FIFO makes build_index wait for ever


def _build_in_subprocess(root: str | bytes, index_path: Path | None = None, **kw) -> dict:
    """build_index(root) in a child process with a deadline: its outcome as a dict
    (``error``: exception type, ``message``, ``kinds``: file -> problem kind), or the crash."""
    code = (
        "import json, os, sys\nfrom ucf_nb import build_index, IndexBuildError\n"
        "root = os.fsdecode(bytes.fromhex(sys.argv[1]))\nkw = json.loads(sys.argv[2])\n"
        "try:\n    df = build_index(root, **kw)\n    out = {'error': None, 'n': len(df)}\n"
        "except Exception as exc:\n"
        "    out = {'error': type(exc).__name__, 'message': str(exc)}\n"
        "    if isinstance(exc, IndexBuildError):\n"
        "        out['kinds'] = dict(zip(exc.problems['file'], exc.problems['kind']))\n"
        "print(json.dumps(out))\n"
    )
    kw = {"clip_len": L, "stride": STRIDE, "probe_threads": 2, **kw}
    if index_path is not None:
        kw["index_path"] = str(index_path)
    raw = os.fsencode(root)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, raw.hex(), json.dumps(kw)], capture_output=True, text=True, timeout=DEADLINE
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"build_index did not return within {DEADLINE} s (it hangs)")
    assert proc.returncode == 0, f"build_index crashed (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------ what is under the root


def test_a_fifo_named_like_a_video_is_refused_not_waited_on(tree):
    path = tree / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse002_x264.mp4"
    path.unlink()
    os.mkfifo(path)
    out = _build_in_subprocess(str(tree))
    assert out["error"] == "IndexBuildError" and out["kinds"] == {"Abuse002_x264.mp4": "not_a_file"}
    assert "Anomaly-Videos-Part-1/Abuse/Abuse002_x264.mp4 is a FIFO (named pipe)" in out["message"]


def test_a_folder_named_like_a_video_is_called_a_folder_not_missing(tree):
    path = tree / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse002_x264.mp4"
    path.unlink()
    path.mkdir()
    out = _build_in_subprocess(str(tree))
    assert out["kinds"] == {"Abuse002_x264.mp4": "not_a_file"}
    assert "Abuse002_x264.mp4 is a folder" in out["message"] and "not anywhere" not in out["message"]


def test_a_video_under_a_folder_whose_name_is_not_utf8_is_reported(tree, tmp_path):
    src = tree / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse002_x264.mp4"
    bad = os.fsencode(tree / "Anomaly-Videos-Part-1") + b"/Abus\xe9"  # latin-1 "Abusé"
    os.mkdir(bad)
    os.rename(os.fsencode(src), bad + b"/Abuse002_x264.mp4")
    out = _build_in_subprocess(str(tree))
    assert out["kinds"] == {"Abuse002_x264.mp4": "bad_path"}
    assert "Abus\\xe9/Abuse002_x264.mp4" in out["message"] and "not UTF-8 (0xe9)" in out["message"]
    # skipped, and the skipped list (UTF-8 text) says why
    index = tmp_path / "index.csv"
    out = _build_in_subprocess(str(tree), index_path=index, on_missing="skip")
    assert out["error"] is None
    skipped = pd.read_csv(index.with_name("index.skipped.csv"), encoding="utf-8")
    assert skipped["kind"].tolist() == ["bad_path"]


def test_a_dataset_root_whose_path_is_not_utf8_is_one_sentence(pristine_tree, tmp_path):  # noqa: F811
    root = os.fsencode(tmp_path) + b"/UCF_Crime_\xff"
    shutil.copytree(pristine_tree, os.fsdecode(root))
    out = _build_in_subprocess(root)
    assert out["error"] == "ValueError", out
    assert out["message"].startswith("dataset_root cannot be used: its path ") and "UCF_Crime_\\xff" in out["message"]
    assert "\n" not in out["message"]


def test_open_video_on_a_non_utf8_path_raises_instead_of_crashing(tmp_path):
    from ucf_nb.demo.synthetic import write_synthetic_video

    good = write_synthetic_video(tmp_path / "v.mp4", 10, width=64, height=48)
    bad = os.fsencode(tmp_path) + b"/v\xff.mp4"
    os.rename(os.fsencode(good), bad)
    code = (
        "import os, sys\nfrom ucf_nb.video import VideoError, probe_video\n"
        "try:\n    probe_video(os.fsdecode(bytes.fromhex(sys.argv[1])))\n"
        "except VideoError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, bad.hex()], capture_output=True, text=True, timeout=DEADLINE)
    assert proc.returncode == 0, f"crashed (exit {proc.returncode}): {proc.stderr[-1000:]}"
    assert "v\\xff.mp4" in proc.stdout and "not UTF-8" in proc.stdout


def test_a_non_utf8_byte_in_the_index_csv_is_one_sentence(tree, tmp_path):
    from ucf_nb import build_index, read_index

    index = tmp_path / "index.csv"
    build_index(tree, index_path=index, clip_len=L, stride=STRIDE, probe_threads=2)
    lines = index.read_bytes().split(b"\n")
    lines[5] = lines[5].replace(b"_x264", b"_\xe9", 1)  # an edit saved in latin-1
    assert b"\xe9" in lines[5]
    index.write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError) as info:
        read_index(index)
    assert not isinstance(info.value, UnicodeDecodeError)
    msg = str(info.value)
    assert "index.csv is not UTF-8 text (byte 0xe9 on line 6)" in msg and "00_build_index" in msg, msg
    assert "\n" not in msg


# ------------------------------------------------------------------------ extraction


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from test_extract import VIDEOS, S, _write_index

    from ucf_nb.demo import make_demo_encoder

    folder = tmp_path_factory.mktemp("bad_input")
    keep = [
        v
        for v in VIDEOS
        if v[3]
        in (
            "Normal_Videos001_x264.mp4",
            "Abuse001_x264.mp4",
            "Arson001_x264.mp4",
            "Normal_Videos003_x264.mp4",
            "Normal_Videos004_x264.mp4",
        )
    ]
    keep = [(("test" if v[3] == "Normal_Videos004_x264.mp4" else v[0]), *v[1:]) for v in keep]
    index = _write_index(folder, keep)
    return {
        "folder": folder,
        "index": index,
        "encoder": make_demo_encoder(folder / "encoder", img_size=S),
        "garbage": folder / "videos" / "Normal_Videos004_x264.mp4",
    }


def _extract(data, out, split, **kw):
    from test_extract import FAST

    from ucf_nb import extract_split

    return extract_split(split, data["index"], out_dir=out, checkpoint=data["encoder"], **{**FAST, **kw})


def test_the_failure_reason_does_not_ask_for_what_ran(data, tmp_path):
    from ucf_nb import extraction_failures

    _extract(data, tmp_path / "out", "test", on_error="skip")
    failed = json.loads((tmp_path / "out" / "manifest.json").read_text())["splits"]["test"]["failed_clips"]
    assert failed and all("on_error" not in f["error"] for f in failed), failed[0]
    assert "on_error" not in str(extraction_failures(tmp_path / "out", "test"))


def test_extraction_names_a_fifo_in_place_of_a_video(data, tmp_path):
    from test_extract import _write_index

    folder = tmp_path / "fifo"
    index = _write_index(folder, [("val", 0, "Normal", "Normal_Videos009_x264.mp4", 64, 64)])
    video = folder / "videos" / "Normal_Videos009_x264.mp4"
    video.unlink()
    os.mkfifo(video)
    code = (
        "import sys\nfrom ucf_nb import extract_split\n"
        "try:\n    extract_split('val', sys.argv[1], out_dir=sys.argv[2], checkpoint=sys.argv[3], img_size=64, "
        "preprocessing='seed', num_workers=0, batch_size=4, precision='fp32', progress=False)\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(index), str(tmp_path / "out"), str(data["encoder"])],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"extract_split did not return within {DEADLINE} s")
    assert "Normal_Videos009_x264.mp4 is a FIFO (named pipe)" in proc.stdout, proc.stdout + proc.stderr[-2000:]


# ------------------------------------------------------------------------ a real full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs mounted at ``tmp_path/disk`` (root only), with ``fill()`` (use every byte
    left, with a real file) and ``free()`` (delete that file)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a real full disk needs root to mount a small tmpfs")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    filler = mnt / "filler.bin"

    def fill() -> None:
        with open(filler, "ab") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        with contextlib.suppress(OSError), open(filler, "ab", buffering=0) as f:  # whatever page is left
            while f.write(b"\0"):
                pass

    def free() -> None:
        filler.unlink(missing_ok=True)

    class Disk:
        path = mnt

    disk = Disk()
    disk.fill, disk.free = fill, free
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _left_behind(out: Path) -> list[str]:
    """Temporary files or folders, write probes and lock files left in ``out``."""
    names = []
    for p in out.rglob("*"):
        n = p.name
        if n.startswith(".write-test") or ".tmp-" in n or n.endswith(".lock") and "shard-" not in n:
            names.append(str(p.relative_to(out)))
    return names


def _full_disk_error(info, out: Path) -> None:
    from ucf_nb import StoreWriteError

    err = info.value
    assert type(err) is StoreWriteError, repr(err)
    msg = str(err)
    assert str(out) in msg and "No space left on device" in msg and "ENOSPC" in msg and "\n" not in msg
    assert err.errno == errno.ENOSPC and "run the same command again" in msg


def test_a_full_disk_before_the_run_is_a_store_write_error_and_leaves_no_probe(data, small_disk):
    from ucf_nb import StoreWriteError

    out = small_disk.path / "out"
    out.mkdir()
    small_disk.fill()
    with pytest.raises(StoreWriteError) as info:
        _extract(data, out, "val")
    _full_disk_error(info, out)
    assert _left_behind(out) == [], _left_behind(out)


@pytest.mark.parametrize("when", ["open_shard", "finalize"])
def test_a_disk_full_at_shard_creation_or_assembly_then_resume_byte_identical(
    data, small_disk, tmp_path, monkeypatch, when
):
    import ucf_nb.store.arrays as store
    from ucf_nb import StoreWriteError

    ref = tmp_path / "ref"
    _extract(data, ref, "train")
    out = small_disk.path / "out"
    real = getattr(store.EmbeddingStore, when)

    def full_first(self, *a, **k):
        small_disk.fill()
        return real(self, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(store.EmbeddingStore, when, full_first)
        with pytest.raises(StoreWriteError) as info:
            _extract(data, out, "train")
    _full_disk_error(info, out)
    assert _left_behind(out) == [], _left_behind(out)
    small_disk.free()
    r = _extract(data, out, "train")
    assert r["complete"]
    for f in ("emb", "y", "rows", "status"):
        assert (ref / f"{f}_train.npy").read_bytes() == (out / f"{f}_train.npy").read_bytes(), f
    assert _left_behind(out) == []


def test_a_disk_full_during_a_retry_copy_then_the_retry_succeeds(data, small_disk, monkeypatch):
    import ucf_nb.store.arrays as store
    from ucf_nb import StoreWriteError
    from ucf_nb.demo.synthetic import write_synthetic_video

    out = small_disk.path / "out"
    _extract(data, out, "test")  # the garbage video: a finished split with failed clips
    garbage = data["garbage"]
    saved = garbage.read_bytes()
    write_synthetic_video(garbage.with_suffix(".tmp.mp4"), 64, width=160, height=120)
    os.replace(garbage.with_suffix(".tmp.mp4"), garbage)  # the file is fixed
    try:
        real = store.EmbeddingStore.apply_retry

        def full_first(self, *a, **k):
            small_disk.fill()
            return real(self, *a, **k)

        with monkeypatch.context() as m:
            m.setattr(store.EmbeddingStore, "apply_retry", full_first)
            with pytest.raises(StoreWriteError) as info:
                _extract(data, out, "test")
        _full_disk_error(info, out)
        assert [p for p in _left_behind(out) if "retry-" not in p] == []
        status = np.load(out / "status_test.npy")
        assert (status == 2).any()  # nothing half-applied: the public arrays are as they were
        small_disk.free()
        _extract(data, out, "test")
        assert (np.load(out / "status_test.npy") == 1).all()
        assert _left_behind(out) == []
    finally:
        garbage.write_bytes(saved)
