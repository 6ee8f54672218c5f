"""Issue 20, "no silently wrong rows": clips padded past a video's real end are recorded as short
and embedded again once the file is fixed; a probe without val says so.

Real H.264 files written by PyAV (a faststart MP4 cut at 95%, a video replaced by a shorter
one, an MP4 whose edit list hides its first frames), a real tiny checkpoint, real papermill runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from video_files import faststart_truncated

from ucf_nb.demo import make_demo_encoder
from ucf_nb.demo.synthetic import write_synthetic_video
from ucf_nb.video.sampling import clip_windows

S = 64
T = 8
FAST = dict(img_size=S, preprocessing="seed", num_workers=0, batch_size=1, precision="fp32", progress=False)
PROJECT = Path(__file__).resolve().parents[1]

# (split, y, category, file, frames): the index says what the good files hold
VIDEOS = [
    ("train", 0, "Normal", "Normal_Videos001_x264.mp4", 160),
    ("train", 1, "Abuse", "Abuse001_x264.mp4", 96),  # the one damaged below: all of shard 2 of 2
    ("val", 1, "Arson", "Arson001_x264.mp4", 64),
    ("val", 0, "Normal", "Normal_Videos003_x264.mp4", 64),
]
SHARDS = [dict(shard_index=1, num_shards=2), dict(shard_index=0, num_shards=2)]


def _write_index(folder: Path, videos=VIDEOS) -> Path:
    recs = []
    for i, (split, y, cat, name, n) in enumerate(videos):
        path = folder / "videos" / name
        if not path.exists():
            write_synthetic_video(path, n, seed=i, width=160, height=120)
        for k, (a, b) in enumerate(clip_windows(n, 32, 16)):
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
                    n_frames=n,
                    video=name,
                    anomaly_frac=np.nan,
                )
            )
    index_path = folder / "index_clips.csv"
    pd.DataFrame(recs).to_csv(index_path, index=False)
    return index_path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trust")
    index_path = _write_index(folder)
    enc = make_demo_encoder(folder / "encoder", img_size=S)
    return {"folder": folder, "index": index_path, "encoder": enc}


def _run(data, out, split="train", **kw):
    from ucf_nb import extract_split

    return extract_split(split, data["index"], out_dir=out, checkpoint=data["encoder"], **{**FAST, **kw})


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    assert _run(data, out)["complete"]
    return out


def _arrays(out, split="train"):
    return {f: (Path(out) / f"{f}_{split}.npy").read_bytes() for f in ("emb", "y", "rows", "status")}


def edit_list_hiding_first_frames(src: Path, dst: Path, hidden: int = 10) -> Path:
    """``src`` remuxed with its first ``hidden`` frames before time 0: the MP4's edit list hides
    them (the demuxer flags their packets discard), while its sample table still counts them."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        s_out.time_base = s_in.time_base
        for pkt in inp.demux(s_in):
            if pkt.dts is None:
                continue
            shift = int(round(hidden / 30 / pkt.time_base))
            pkt.pts -= shift
            pkt.dts -= shift
            pkt.stream = s_out
            out.mux(pkt)
    return dst


def _damage(kind: str, good: Path, dst: Path) -> Path:
    if kind == "faststart-cut-at-95%":
        return faststart_truncated(good, dst, keep=0.95)
    if kind == "replaced-by-a-shorter-one":
        return write_synthetic_video(dst, 70, seed=7, width=160, height=120)
    return edit_list_hiding_first_frames(good, dst)


def _damaged_copy(data, tmp_path, kind):
    """A copy of the dataset whose Abuse001 is damaged the ``kind`` way, and its index."""
    folder = tmp_path / "data"
    shutil.copytree(data["folder"] / "videos", folder / "videos")
    victim = folder / "videos" / "Abuse001_x264.mp4"
    good = tmp_path / "good.mp4"
    shutil.copyfile(victim, good)
    _damage(kind, good, tmp_path / "damaged.mp4")
    shutil.copyfile(tmp_path / "damaged.mp4", victim)
    index = _write_index(folder)
    return {**data, "index": index}, good, victim


KINDS = ["faststart-cut-at-95%", "replaced-by-a-shorter-one", "edit-list"]


@pytest.mark.parametrize("runs", [[{}], SHARDS], ids=["finished", "unfinished-shard"])
@pytest.mark.parametrize("kind", KINDS)
def test_clips_past_the_real_end_are_recorded_short_and_embedded_again_once_the_file_is_fixed(
    data, reference, tmp_path, kind, runs
):
    from ucf_nb import count_video_frames, extraction_failures, read_manifest

    damaged, good, victim = _damaged_copy(data, tmp_path, kind)
    real = count_video_frames(victim).n_frames
    assert 32 < real < 96  # the index says 96
    out = tmp_path / "out"
    first = _run(damaged, out, **runs[0])
    rows = pd.read_csv(damaged["index"])
    abuse = rows.index[rows["video"] == "Abuse001_x264.mp4"].to_numpy()
    if first["complete"]:
        e = read_manifest(out)["splits"]["train"]
        short = {c["row"]: c["n_real"] for c in e["short_clips"]}
        assert short and set(short) <= set(abuse) and all(0 < k < T for k in short.values())
        assert e["n_short"] == len(short)
        fail = extraction_failures(out, "train")
        assert fail and fail.n_short == len(short)
        assert fail.short_videos["video"].tolist() == ["Abuse001_x264.mp4"]
        assert fail.short_videos["index_n_frames"].tolist() == [96]
        text = str(fail)
        assert f"{len(short)} of 14 clips of split 'train' are short" in text and f"of {T} sampled frames real" in text
        html = fail._repr_html_()
        assert "Warning: short clips" in html and "Abuse001_x264.mp4" in html
        assert _arrays(out) != _arrays(reference)
    shutil.copyfile(good, victim)  # the file is fixed
    again = [_run(damaged, out, **kw) for kw in runs]
    assert again[-1]["complete"]
    assert _arrays(out) == _arrays(reference)  # byte for byte what a clean run writes
    e = read_manifest(out)["splits"]["train"]
    assert (e["n_done"], e["n_failed"], e["n_short"], e["short_clips"], e["failed_clips"]) == (14, 0, 0, [], [])
    assert not extraction_failures(out, "train")
    before = {f: (out / f"{f}_train.npy").stat().st_mtime_ns for f in ("emb", "status")}
    r = _run(damaged, out)  # nothing left to do
    assert r["complete"] and r["n_embedded"] == 0
    assert {f: (out / f"{f}_train.npy").stat().st_mtime_ns for f in ("emb", "status")} == before


def test_a_video_still_short_is_tried_again_and_changes_nothing(data, tmp_path):
    from ucf_nb import read_manifest

    damaged, _, _ = _damaged_copy(data, tmp_path, "faststart-cut-at-95%")
    out = tmp_path / "out"
    assert _run(damaged, out)["complete"]
    files, manifest = _arrays(out), (out / "manifest.json").read_bytes()
    r = _run(damaged, out)  # the same broken file: its 5 clips are decoded and embedded again, to the same bytes
    assert r["complete"] and r["n_embedded"] == 5
    assert _arrays(out) == files and (out / "manifest.json").read_bytes() == manifest
    assert not (out / ".extract" / "train").exists()
    assert read_manifest(out)["splits"]["train"]["n_short"] > 0


# ------------------------------------------------------------------ 4. a probe without val says so

MIL_SHORT = {"max_iter": 40, "eval_every": 20, "patience": 1, "hidden": [16, 8]}


def test_a_probe_whose_val_clips_all_failed_says_so_in_metrics_and_notebook_03(tmp_path):
    """Issue 20: every val clip failed; the linear probe fell back to C = 1 and the MIL head ran
    every iteration 'chosen on val' without a word. Now metrics.json's ``warnings`` and notebook
    03 (a warning block) say so."""
    import nbformat
    import papermill as pm
    from test_probe import _write_store

    from ucf_nb import probe_warnings, run_probe

    out, ann, df = _write_store(tmp_path / "ok")
    assert run_probe(out, annotation_path=ann).metrics["warnings"] == []  # val chose C: nothing to say

    out, ann, df = _write_store(tmp_path / "val_failed", val_failed=True)
    n_val = int((df["split"] == "val").sum())
    lin = run_probe(out, annotation_path=ann)
    m = json.loads((out / "probe" / "metrics.json").read_text())
    assert m["settings"]["C"] == 1.0 and m["warnings"] == lin.warnings and len(m["warnings"]) == 1
    assert f"C was not chosen on val because all {n_val} val clips failed" in m["warnings"][0]
    mil = run_probe(out, annotation_path=ann, head="mil", mil_params=MIL_SHORT)
    m = json.loads((out / "probe-mil" / "metrics.json").read_text())
    assert m["settings"]["best_iter"] == MIL_SHORT["max_iter"] and len(m["warnings"]) == 1
    assert "iteration count was not chosen on val because all" in m["warnings"][0]
    assert "(chosen on val)" not in m["settings"]["val_scored_by"]
    shown = probe_warnings({"linear": lin, "mil": mil})
    assert shown and "admonition warning" in shown._repr_html_() and str(shown).count("not chosen on val") == 2

    done = tmp_path / "03.ipynb"
    pm.execute_notebook(
        str(PROJECT / "notebooks" / "03_probe.ipynb"),
        str(done),
        parameters=dict(out_dir=str(out), annotation_path=str(ann), mil_params=MIL_SHORT),
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    cell = next(c for c in nbformat.read(done, as_version=4).cells if c.get("id") == "nb03-fit-warnings")
    html = cell.outputs[0]["data"]["text/html"]
    assert "Warning: settings not chosen on val" in html
    assert html.count(f"all {n_val} val clips failed") == 2


def test_the_book_intro_and_the_launcher_name_short_clips_and_fit_warnings():
    """What notebook 02 and 03 say, the book's intro page and `report extract` say too."""
    from ucf_nb.extract.launch import _failed_note
    from ucf_nb.report import book as report

    manifest = {
        "model": {"checkpoint": "demo/encoder", "revision": None, "model_type": "timesformer"},
        "T": 8,
        "img_size": 224,
        "embedding_dim": 64,
        "pooling": "cls",
        "precision": "fp32",
        "preprocessing": {"kind": "checkpoint"},
        "index": {"path": "index.csv", "sha256": "ab" * 32},
        "splits": {
            "train": {
                "n_clips": 14,
                "n_done": 14,
                "n_failed": 0,
                "n_short": 2,
                "seconds": 1.0,
                "clips_per_s": 14.0,
                "shards": [{"device": "cpu"}],
            }
        },
    }
    metrics = {
        "clip_auc_val": None,
        "clip_auc_test": 0.5,
        "seed": 0,
        "warnings": ["linear probe: C was not chosen on val because all 7 val clips failed"],
    }
    text = report.write_intro(manifest, metrics)
    assert "Some clips are short (train: 2 of 14 clips)" in text
    assert "```{warning}\nlinear probe: C was not chosen on val because all 7 val clips failed.\n```" in text

    class Store:
        @staticmethod
        def manifest():
            return manifest

    note = _failed_note(Store(), "train", {"out_dir": "out"})
    assert "2 are short (their video ended before the clip did)" in note and "extract_split(split='train'" in note
