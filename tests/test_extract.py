"""extract_split end to end: real H.264 files, a real tiny checkpoint, real processes killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ucf_nb.demo import make_demo_encoder
from ucf_nb.demo.synthetic import write_synthetic_video
from ucf_nb.store import ExtractMismatchError, load_embeddings
from ucf_nb.store.manifest import read_manifest
from ucf_nb.video.sampling import clip_windows

S = 64
T = 8
FAST = dict(img_size=S, preprocessing="seed", num_workers=0, batch_size=4, precision="fp32", progress=False)

# (split, y, category, file, frames written, frames the index claims)
VIDEOS = [
    ("train", 0, "Normal", "Normal_Videos001_x264.mp4", 300, 300),
    ("train", 1, "Abuse", "Abuse001_x264.mp4", 80, 80),
    ("train", 0, "Normal", "Normal_Videos002_x264.mp4", 64, 64),
    ("val", 1, "Arson", "Arson001_x264.mp4", 80, 80),
    ("val", 0, "Normal", "Normal_Videos003_x264.mp4", 64, 64),
    ("test", 1, "Fighting", "Fighting001_x264.mp4", 70, 112),  # container shorter than the index says
    ("test", 0, "Normal", "Normal_Videos004_x264.mp4", None, 64),  # not a video at all
]


def _write_index(folder: Path, videos=VIDEOS) -> Path:
    recs = []
    for i, (split, y, cat, name, n_written, n_claimed) in enumerate(videos):
        path = folder / "videos" / name
        if n_written is None:
            path.parent.mkdir(parents=True, exist_ok=True)
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
                    video=name,
                    anomaly_frac=np.nan,
                )
            )
    df = pd.DataFrame(recs)
    order = {"train": 0, "val": 1, "test": 2}
    df = df.sort_values(
        ["split", "video", "clip_idx"], key=lambda c: c.map(order) if c.name == "split" else c, kind="stable"
    )
    index_path = folder / "index_clips.csv"
    df.to_csv(index_path, index=False)
    return index_path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extract")
    index_path = _write_index(folder)
    enc = make_demo_encoder(folder / "encoder", img_size=S)
    return {"folder": folder, "index": index_path, "encoder": enc}


@pytest.fixture(scope="module")
def train_run(data, tmp_path_factory):
    """One uninterrupted, single-process run of train with the FAST settings, for the tests that
    compare with it (read only): ``(extract_split's result, out_dir)``."""
    out = tmp_path_factory.mktemp("train_run") / "out"
    return _run(data, out, split="train"), out


def _run(data, out, split="train", **kw):
    from ucf_nb import extract_split

    args = {**FAST, **kw}
    return extract_split(split, data["index"], out_dir=out, checkpoint=data["encoder"], **args)


def _arrays(out, split):
    return {f: np.load(Path(out) / f"{f}_{split}.npy") for f in ("emb", "y", "rows", "status")}


def _assert_same(a, b):
    for f in a:
        assert np.array_equal(a[f], b[f], equal_nan=a[f].dtype.kind == "f"), f


def _reference_embeddings(data, rows_df):
    """Each clip embedded on its own through the seek-per-frame reference dataset."""
    from transformers import AutoModel

    from ucf_nb import ClipDataset, Preprocessing

    prep = Preprocessing.seed(S)
    ds = ClipDataset(rows_df, T=T, preprocessing=prep)
    model = AutoModel.from_pretrained(data["encoder"]).eval()
    out = []
    with torch.no_grad():
        for i in range(len(ds)):
            x = prep.normalize(torch.from_numpy(ds.read_clip(i)["frames"]))[None]
            out.append(model(pixel_values=x).last_hidden_state[0, 0].numpy())
    return np.stack(out)


def test_row_i_of_X_is_the_clip_on_row_i(data, tmp_path):
    r = _run(data, tmp_path / "out", split="val", num_workers=1)
    assert r["complete"] and r["n_embedded"] == r["n_clips"] == 7 and r["n_failed"] == 0
    X, y, rows = load_embeddings(tmp_path / "out", "val")
    index = pd.read_csv(data["index"])
    assert rows.index.tolist() == index.index[index["split"] == "val"].tolist()
    assert y.tolist() == rows["y"].tolist()
    ref = _reference_embeddings(data, rows)
    np.testing.assert_allclose(
        np.asarray(X, np.float32), ref.astype(np.float16).astype(np.float32), rtol=2e-3, atol=2e-3
    )
    # the clips differ from one another, so a misplaced row would not pass the check above
    assert np.abs(ref[1:] - ref[:-1]).max() > 0.01


def test_finished_split_is_a_noop(data, tmp_path):
    out = tmp_path / "out"
    _run(data, out, split="val")
    files = sorted(out.glob("*_val.npy")) + [out / "manifest.json"]
    before = {f: f.stat().st_mtime_ns for f in files}
    time.sleep(0.02)
    r = _run(data, out, split="val")
    assert r["complete"] and r["n_embedded"] == 0 and r["n_shard"] == r["n_clips"]
    assert {f: f.stat().st_mtime_ns for f in files} == before


def test_short_and_unreadable_videos_are_recorded(data, tmp_path):
    out = tmp_path / "out"
    r = _run(data, out, split="test")
    assert r["complete"]
    m = read_manifest(out)
    e = m["splits"]["test"]
    X, y, rows = load_embeddings(out, "test")
    status = np.load(out / "status_test.npy")
    failed_rows = {f["row"] for f in e["failed_clips"]}
    # the non-video file: every one of its rows failed, with a message naming the file
    bad = rows.index[rows["video"] == "Normal_Videos004_x264.mp4"]
    assert set(bad) <= failed_rows
    assert all("Normal_Videos004_x264.mp4" in f["error"] for f in e["failed_clips"] if f["row"] in set(bad))
    # the video that really has 70 frames: the clip [80, 112) has nothing real, [48, 80) and
    # [64, 96) are completed with the last real frame
    fight = rows[rows["video"] == "Fighting001_x264.mp4"]
    starts = dict(zip(fight["start_frame"], fight.index))
    assert starts[80] in failed_rows
    short = {s["row"]: s["n_real"] for s in e["short_clips"]}
    assert set(short) == {starts[48], starts[64]} and all(0 < k < T for k in short.values())
    pos = {r: i for i, r in enumerate(rows.index)}
    for r in failed_rows:
        assert status[pos[r]] == 2 and np.isnan(np.asarray(X[pos[r]], np.float32)).all()
    ok = status == 1
    assert np.isfinite(np.asarray(X[ok], np.float32)).all()
    assert e["n_failed"] == len(failed_rows) and e["n_done"] == int(ok.sum())


def test_missing_videos_stop_the_run_before_any_work(data, train_run, tmp_path):
    """A wrong video_root must not turn a split into NaN rows marked done."""
    moved = pd.read_csv(data["index"])
    moved["path"] = moved["path"].str.replace(str(data["folder"]), str(tmp_path / "elsewhere"), regex=False)
    index_path = tmp_path / "index_clips.csv"
    moved.to_csv(index_path, index=False)
    with pytest.raises(
        FileNotFoundError,
        match=r"3 of the 3 videos of split 'train' \(\d+ clips\) are not on "
        r"disk.*video_root=",
    ):
        _run({**data, "index": index_path}, tmp_path / "out")
    assert not (tmp_path / "out" / "emb_train.npy").exists()
    # the same index with video_root pointing at where the files are runs, and equals the original
    r = _run({**data, "index": index_path}, tmp_path / "out", video_root=str(data["folder"]))
    assert r["complete"] and r["n_failed"] == 0
    ref, ref_out = train_run  # _run(data, <fresh out_dir>)
    assert ref["complete"]
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "emb_train.npy"), np.load(ref_out / "emb_train.npy"))


def test_two_shards_in_sequence_equal_one(data, train_run, tmp_path):
    _, one = train_run  # _run(data, <fresh out_dir>, split="train")
    r0 = _run(data, tmp_path / "two", split="train", shard_index=0, num_shards=2)
    assert not r0["complete"] and 0 < r0["n_shard"] < r0["n_clips"]
    assert not (tmp_path / "two" / "emb_train.npy").exists()
    r1 = _run(data, tmp_path / "two", split="train", shard_index=1, num_shards=2)
    assert r1["complete"] and r0["n_shard"] + r1["n_shard"] == r1["n_clips"]
    _assert_same(_arrays(one, "train"), _arrays(tmp_path / "two", "train"))
    assert read_manifest(tmp_path / "two")["splits"]["train"]["num_shards"] == 2


@pytest.mark.slow
def test_resume_after_kill_9_gives_identical_arrays(data, tmp_path):
    kw = dict(batch_size=1)
    _run(data, tmp_path / "ref", split="train", **kw)
    out = tmp_path / "killed"
    # commit after every batch, so that the kill can land between two commits mid-split
    code = (
        "import sys; from ucf_nb import extract_split; from ucf_nb.store import ShardWriter\n"
        "ShardWriter.COMMIT_EVERY = 0.0\n"
        f"extract_split('train', {str(data['index'])!r}, out_dir={str(out)!r}, "
        f"checkpoint={str(data['encoder'])!r}, "
        f"img_size={S}, preprocessing='seed', num_workers=0, batch_size=1, precision='fp32', progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status_file = out / ".extract" / "train" / "shard-0-of-1" / "status.npy"
    killed_at = None
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if status_file.exists():
                done = int((np.load(status_file) != 0).sum())
                if done >= 2:
                    proc.send_signal(signal.SIGKILL)
                    killed_at = done
                    break
            time.sleep(0.002)
    finally:
        if proc.poll() is None and killed_at is None:
            proc.kill()
        proc.wait()
    assert killed_at is not None, f"the run ended before it could be killed: {proc.stderr.read()[-2000:]}"
    left = np.load(status_file)
    n = len(left)
    assert 0 < (left != 0).sum() < n, "kill landed after the last clip: make the split longer"
    assert not (out / "emb_train.npy").exists()
    r = _run(data, out, split="train", **kw)
    assert r["complete"] and 0 < r["n_embedded"] < n
    _assert_same(_arrays(tmp_path / "ref", "train"), _arrays(out, "train"))


def test_auto_precision_resumes_with_the_recorded_one(data, tmp_path):
    """A node that resolves precision="auto" differently (a CPU login node after GPU jobs)
    finds a finished split finished, instead of refusing it."""
    from ucf_nb.encoders import resolve_precision

    here = resolve_precision("auto", torch.device("cpu"))
    other = "fp32" if here == "bf16" else "bf16"
    out = tmp_path / "out"
    _run(data, out, split="val", precision=other)
    r = _run(data, out, split="val", precision="auto")
    assert r["complete"] and r["n_embedded"] == 0 and r["precision"] == other
    with pytest.raises(ExtractMismatchError, match=f"precision: '{other}' before, '{here}' now"):
        _run(data, out, split="val", precision=here)


def test_other_settings_are_never_mixed_in(data, tmp_path):
    out = tmp_path / "out"
    _run(data, out, split="val")
    other = make_demo_encoder(tmp_path / "other_encoder", img_size=S, seed=1)
    from ucf_nb import extract_split

    with pytest.raises(ExtractMismatchError, match="checkpoint.*revision"):
        extract_split("val", data["index"], out_dir=out, checkpoint=other, **FAST)
    with pytest.raises(ExtractMismatchError, match="T: 8 before, 4 now"):
        _run(data, out, split="val", T=4)
    with pytest.raises(ExtractMismatchError, match="preprocessing"):
        _run(data, out, split="val", preprocessing="checkpoint", img_size=224)
    changed = tmp_path / "index_changed.csv"
    df = pd.read_csv(data["index"])
    df.loc[0, "fps"] = 25.0
    df.to_csv(changed, index=False)
    from ucf_nb import extract_split as ex

    with pytest.raises(ExtractMismatchError, match="index file differs"):
        ex("val", changed, out_dir=out, checkpoint=data["encoder"], **FAST)
    # limit changes the rows of the split: refused too
    with pytest.raises(ExtractMismatchError, match="limit: None before, 3 now"):
        _run(data, out, split="val", limit=3)
    # nothing of the above touched the outputs; asked to, a run starts over
    r = ex("val", changed, out_dir=out, checkpoint=data["encoder"], **{**FAST, "resume": False})
    assert r["complete"] and r["n_embedded"] == r["n_clips"]
    from ucf_nb.files import file_sha256

    assert read_manifest(out)["index"]["sha256"] == file_sha256(changed)


def test_limit_and_mean_pooling_with_videomae(data, tmp_path):
    vm = make_demo_encoder(tmp_path / "videomae", arch="videomae", img_size=S)
    from ucf_nb import extract_split

    with pytest.raises(ValueError, match="no CLS token"):
        extract_split("val", data["index"], out_dir=tmp_path / "out", checkpoint=vm, pooling="cls", **FAST)
    r = extract_split("val", data["index"], out_dir=tmp_path / "out", checkpoint=vm, pooling="mean", limit=3, **FAST)
    assert r["complete"] and r["n_clips"] == 3
    X, y, rows = load_embeddings(tmp_path / "out", "val")
    assert X.shape == (3, 64) and np.isfinite(np.asarray(X, np.float32)).all()
    m = read_manifest(tmp_path / "out")
    assert m["pooling"] == "mean" and m["model"]["model_type"] == "videomae" and m["splits"]["val"]["limit"] == 3


def test_bad_parameters_are_named(data, tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebooks/00_build_index.ipynb first"):
        _run({**data, "index": tmp_path / "missing.csv"}, tmp_path / "out")
    with pytest.raises(ValueError, match="split 'holdout' has no clips"):
        _run(data, tmp_path / "out", split="holdout")
    with pytest.raises(ValueError, match="shard_index=2 must be smaller than num_shards=2"):
        _run(data, tmp_path / "out", shard_index=2, num_shards=2)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        _run(data, tmp_path / "out", batch_size=0)
    with pytest.raises(ValueError, match="preprocessing must be 'checkpoint' or 'seed'"):
        _run(data, tmp_path / "out", preprocessing="imagenet")


def test_notebook_has_exactly_the_extract_split_parameters():
    import ast
    import inspect

    import nbformat

    from ucf_nb import extract_split

    nb = nbformat.read(Path(__file__).parents[1] / "notebooks" / "02_extract.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assigned = {}
    for node in ast.parse(tagged[0].source).body:
        assigned[node.targets[0].id] = ast.literal_eval(node.value)
    sig = inspect.signature(extract_split)
    expected = {}
    for k, p in sig.parameters.items():
        if k == "out_dir":  # runs_dir/<run_name>/ (ucf_nb.run_dir) unless out_dir is given
            expected.update(runs_dir="processed/runs", run_name=None, out_dir=None)
        elif k not in ("progress", "settings"):  # settings: all the options as one value, for scripts
            expected[k] = p.default
    assert assigned == expected
    assert list(assigned) == list(expected)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.slow
def test_notebook_runs_with_papermill_from_another_folder(data, tmp_path):
    import papermill as pm

    nb_path = Path(__file__).parents[1] / "notebooks" / "02_extract.ipynb"
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    out = tmp_path / "processed"
    params = dict(
        split="val",
        index_path=str(data["index"]),
        out_dir=str(out),
        checkpoint=str(data["encoder"]),
        img_size=S,
        preprocessing="seed",
        num_workers=0,
        batch_size=4,
    )
    old = os.getcwd()
    os.chdir(cwd)
    try:
        pm.execute_notebook(
            str(nb_path),
            str(tmp_path / "run.ipynb"),
            parameters=params,
            cwd=str(cwd),
            progress_bar=False,
            kernel_name="python3",
        )
    finally:
        os.chdir(old)
    X, y, rows = load_embeddings(out, "val")
    assert X.shape[0] == 7
    import nbformat

    run = nbformat.read(tmp_path / "run.ipynb", as_version=4)
    outputs = [o for c in run.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the projection figure
    text = " ".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in outputs)
    assert "all_finite" in text and "clips/s" in text
