"""Ten-crop views: the geometry, a real ten-crop extraction (resume, shards, retry, fingerprint)
and both probe heads on the mean over views."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_extract import FAST, S, T, _arrays, _assert_same, _run, data  # noqa: F401 (data: fixture)

from ucf_nb import Preprocessing
from ucf_nb.store import ExtractMismatchError, load_embeddings
from ucf_nb.store.manifest import read_manifest

TEN = dict(FAST, views="ten_crop")


# --------------------------------------------------------------------------- the geometry


def _ten_views_by_hand(frame: np.ndarray, crop: int, short: int) -> np.ndarray:
    """The field's ten-crop (torchvision's TenCrop), re-stated: shorter side to ``short``
    (bilinear, longer side truncated), then the four corners and the centre (its offset
    rounded as torchvision rounds it, half to even) of the frame, then the same five crops of
    the frame mirrored left-right. (10, crop, crop, 3)."""
    h, w = frame.shape[:2]
    if h <= w:
        nh, nw = short, int(short * w / h)
    else:
        nh, nw = int(short * h / w), short
    big = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)

    def five(img):
        at = {
            "top-left": (0, 0),
            "top-right": (0, nw - crop),
            "bottom-left": (nh - crop, 0),
            "bottom-right": (nh - crop, nw - crop),
            "centre": (int(round((nh - crop) / 2)), int(round((nw - crop) / 2))),
        }
        return [img[y : y + crop, x : x + crop] for y, x in at.values()]

    return np.stack(five(big) + five(np.ascontiguousarray(big[:, ::-1])))


@pytest.mark.parametrize("shape", [(120, 170), (170, 120), (73, 73)])
def test_ten_crop_views_are_the_corners_the_centre_and_their_mirrors(shape):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, *shape, 3), dtype=np.uint8)
    prep = Preprocessing.seed(64).with_views("ten_crop")
    assert (prep.resize, prep.size, prep.crop_size, prep.n_views) == ("shortest_edge", 73, 64, 10)
    crops = prep.spatial(frames)  # what a decode worker ships: six crops per frame
    assert crops.shape == (3, 6, 64, 64, 3) and crops.dtype == np.uint8
    views = prep.expand_views(crops)  # numpy, one clip: (10, T, S, S, 3)
    by_torch = prep.expand_views(torch.from_numpy(crops)[None])[0].numpy()  # a batch on the device
    for t in range(3):
        want = _ten_views_by_hand(frames[t], 64, 73)
        assert np.array_equal(views[:, t], want) and np.array_equal(by_torch[:, t], want)
    # the long side's margin is odd here (103 - 64 = 39): round-half-to-even puts the centre at 20,
    # and the flipped frame's centre is the mirror of the crop at 19
    if shape == (120, 170):
        big = cv2.resize(frames[0], (103, 73))
        assert np.array_equal(views[4, 0], big[4:68, 20:84])
        assert np.array_equal(views[9, 0], big[4:68, 19:83][:, ::-1])
        assert np.array_equal(views[5, 0], big[0:64, 39:103][:, ::-1])  # flipped top-left = mirrored top-right


def test_ten_crop_matches_torchvision_ten_crop():
    F = pytest.importorskip("torchvision.transforms.functional")
    frame = np.random.default_rng(1).integers(0, 256, (120, 170, 3), dtype=np.uint8)
    prep = Preprocessing.seed(64).with_views("ten_crop")
    ours = prep.expand_views(prep.spatial(frame[None]))[:, 0]
    resized = torch.from_numpy(cv2.resize(frame, (103, 73))).permute(2, 0, 1)
    theirs = [c.permute(1, 2, 0).numpy() for c in F.ten_crop(resized, [64, 64])]
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_ten_crop_resize_follows_the_checkpoint_crop_and_centre_dicts_are_unchanged():
    center = Preprocessing(
        resize="shortest_edge",
        size=224,
        crop_size=224,
        interpolation="cubic",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        preset="checkpoint",
        source="x",
    )
    ten = center.with_views("ten_crop")
    assert (ten.size, ten.crop_size, ten.interpolation, ten.mean) == (256, 224, "cubic", (0.5, 0.5, 0.5))
    assert Preprocessing.seed(256).with_views("ten_crop").size == 293  # 256 x 256 / 224 = 292.57
    assert center.with_views("center") is center
    # a centre preprocessing's dict (the run's fingerprint) has no views key, as before views existed
    assert "views" not in center.to_dict() and ten.to_dict()["views"] == "ten_crop"
    assert Preprocessing.from_dict(ten.to_dict()) == ten
    with pytest.raises(ValueError, match="views must be 'center' or 'ten_crop', got views='five'"):
        center.with_views("five")
    with pytest.raises(ValueError, match="needs resize='shortest_edge'"):
        Preprocessing(resize="squash", size=64, views="ten_crop")


# ------------------------------------------------------------------ a real ten-crop extraction


@pytest.fixture(scope="module")
def ten_run(data, tmp_path_factory):
    """Every split of ``data``'s index extracted with ten views (read only)."""
    out = tmp_path_factory.mktemp("ten_run") / "out"
    for split in ("train", "val", "test"):
        assert _run(data, out, split=split, **TEN)["complete"]
    return out


def _reference_views(data, rows_df) -> np.ndarray:
    """Each clip's ten views cut by hand from its decoded frames and embedded one by one:
    (n_clips, 10, D)."""
    from transformers import AutoModel

    from ucf_nb.video import iter_video_frames
    from ucf_nb.video.sampling import uniform_sample_indices

    model = AutoModel.from_pretrained(data["encoder"]).eval()
    prep = Preprocessing.seed(S)
    out = []
    for _, r in rows_df.iterrows():
        ids = uniform_sample_indices(int(r.start_frame), int(r.end_frame), T)
        got = dict(iter_video_frames(r.path, np.unique(ids)))
        views = np.stack([_ten_views_by_hand(got[f], S, 73) for f in ids.tolist()], axis=1)  # (10, T, S, S, 3)
        with torch.no_grad():
            x = prep.normalize(torch.from_numpy(np.ascontiguousarray(views)))
            out.append(model(pixel_values=x).last_hidden_state[:, 0].numpy())
    return np.stack(out)


def test_a_ten_crop_run_stores_the_ten_views_of_every_clip(data, ten_run):
    X, y, rows = load_embeddings(ten_run, "val")
    m = read_manifest(ten_run)
    assert m["views"] == "ten_crop" and m["splits"]["val"]["shape"] == [len(rows), 10, X.shape[2]]
    assert X.dtype == np.float16 and X.shape == (len(rows), 10, 64)
    assert m["preprocessing"]["views"] == "ten_crop" and m["preprocessing"]["size"] == 73
    ref = _reference_views(data, rows)
    np.testing.assert_allclose(
        np.asarray(X, np.float32), ref.astype(np.float16).astype(np.float32), rtol=2e-3, atol=2e-3
    )
    # the views differ from one another: a view out of place would not pass the check above
    assert np.abs(ref[:, 1:] - ref[:, :-1]).max(axis=2).min() > 1e-3
    # a failed clip is NaN in every view, a done one finite in every view
    Xt = np.asarray(load_embeddings(ten_run, "test")[0], np.float32)
    status = np.load(ten_run / "status_test.npy")
    assert np.isnan(Xt[status == 2]).all() and np.isfinite(Xt[status == 1]).all() and (status == 2).any()


def test_views_enter_the_fingerprint_resume_and_shards_work(data, ten_run, tmp_path):
    before = _arrays(ten_run, "train")
    work = tmp_path / "copy"
    shutil.copytree(ten_run, work)
    r = _run(data, work, split="train", **TEN)
    assert r["complete"] and r["n_embedded"] == 0
    _assert_same(before, _arrays(work, "train"))
    with pytest.raises(ExtractMismatchError, match="views: 'ten_crop' before, 'center' now"):
        _run(data, work, split="train", **FAST)
    r0 = _run(data, tmp_path / "two", split="train", shard_index=0, num_shards=2, **TEN)
    fp = json.loads((tmp_path / "two" / ".extract" / "fingerprint.json").read_text())
    assert fp["views"] == "ten_crop" and not r0["complete"]
    assert _run(data, tmp_path / "two", split="train", shard_index=1, num_shards=2, **TEN)["complete"]
    _assert_same(before, _arrays(tmp_path / "two", "train"))


# the fingerprint keys of every run made before views existed
OLD_FINGERPRINT = [
    "index_sha256",
    "checkpoint",
    "revision",
    "model_type",
    "embedding_dim",
    "pooling",
    "precision",
    "T",
    "img_size",
    "preprocessing",
]


def test_a_centre_run_keeps_its_fingerprint_and_runs_made_before_keep_resuming(data, tmp_path):
    r0 = _run(data, tmp_path / "part", split="train", shard_index=0, num_shards=2, **FAST)
    assert not r0["complete"]
    fp = json.loads((tmp_path / "part" / ".extract" / "fingerprint.json").read_text())
    assert list(fp) == OLD_FINGERPRINT and "views" not in fp["preprocessing"]
    out = tmp_path / "old"
    _run(data, out, split="val", **FAST)
    m = json.loads((out / "manifest.json").read_text())
    assert m["views"] == "center"
    del m["views"]  # as ucf-nb wrote it before views existed
    (out / "manifest.json").write_text(json.dumps(m))
    before = _arrays(out, "val")
    r = _run(data, out, split="val", **FAST)
    assert r["complete"] and r["n_embedded"] == 0
    _assert_same(before, _arrays(out, "val"))
    assert load_embeddings(out, "val")[0].ndim == 2


def test_failed_clips_of_a_ten_crop_run_are_retried_and_the_rest_kept(data, tmp_path):
    from test_extract import VIDEOS, _write_index

    from ucf_nb import extract_split

    videos = [v for v in VIDEOS if v[0] == "test"]
    index = _write_index(tmp_path, videos)
    run = dict(TEN, checkpoint=data["encoder"], out_dir=tmp_path / "out")
    extract_split("test", index, **run)
    before = _arrays(tmp_path / "out", "test")
    bad = before["status"] == 2
    assert bad.any() and np.isnan(before["emb"][bad]).all()
    # the file that was not a video is replaced by a real one: its clips are embedded again
    from ucf_nb.demo.synthetic import write_synthetic_video

    broken = tmp_path / "videos" / "Normal_Videos004_x264.mp4"
    broken.unlink()
    write_synthetic_video(broken, 64, seed=9, width=160, height=120)
    r = extract_split("test", index, **run)
    after = _arrays(tmp_path / "out", "test")
    fixed = bad & (after["status"] == 1)
    # the same call also embeds again Fighting001's clips (the video ends at frame 70 where the
    # index says 112: short clips, issue 20), to the same bytes
    again = 3 + int((~bad).sum())
    assert fixed.sum() == 3 and r["n_embedded"] == again
    assert np.isfinite(after["emb"][fixed]).all() and after["emb"].shape[1:] == (10, 64)
    assert np.array_equal(after["emb"][~bad], before["emb"][~bad])
    assert read_manifest(tmp_path / "out")["splits"]["test"]["retries"][-1]["n_embedded"] == again


def test_both_heads_fit_and_score_the_mean_over_views_and_say_so(ten_run, tmp_path):
    from ucf_nb import run_probe
    from ucf_nb.evaluate.probe import mean_over_views

    work = tmp_path / "run"
    shutil.copytree(ten_run, work)
    lin = run_probe(work, seed=0, n_boot=10)
    Xt, _, _ = load_embeddings(work, "test")
    mean = mean_over_views(Xt)
    assert mean.shape == (len(Xt), 64) and np.isnan(mean[np.isnan(np.asarray(Xt, np.float32)).all(axis=(1, 2))]).all()
    np.testing.assert_array_equal(lin.scores["test"]["score"].to_numpy(), lin.probe.score_clips(mean))
    mil = run_probe(work, head="mil", seed=0, n_boot=10, mil_params={"max_iter": 20, "eval_every": 10})
    for _res, folder in ((lin, "probe"), (mil, "probe-mil")):
        saved = json.loads((work / folder / "metrics.json").read_text())["embeddings"]
        assert saved["views"] == "ten_crop" and saved["n_views"] == 10
        assert saved["features"] == "the mean over each clip's 10 views (fit and scored on it)"
    assert np.isfinite(mil.scores["test"]["score"].dropna()).all()
    # the MIL head scored the mean too: its test scores are those of the mean's bags
    from ucf_nb import get_head

    np.testing.assert_allclose(
        mil.scores["test"]["score"].to_numpy(),
        get_head("mil").score_clips(mil.probe, "test", mean, mil.scores["test"]),
        equal_nan=True,
    )


def test_views_reach_notebooks_02_and_03_and_name_the_run():
    from ucf_nb.evaluate.runs import run_name
    from ucf_nb.paths import resolve_path
    from ucf_nb.report import pipeline

    ckpt = "facebook/timesformer-base-finetuned-k400"
    assert run_name(ckpt, T=8, pooling="cls", views="ten_crop") == "timesformer-base-finetuned-k400_T8_cls_tencrop"
    assert run_name(ckpt, T=8, pooling="cls") == "timesformer-base-finetuned-k400_T8_cls"
    with pytest.raises(ValueError, match="run_name: views must be 'center' or 'ten_crop', got views='10crop'"):
        run_name(ckpt, T=8, pooling="cls", views="10crop")
    # python -m ucf_nb.report run -p views=ten_crop: both notebooks get it, and the run's folder says it
    steps = pipeline.apply_overrides(
        pipeline.pipeline_steps(), {"views": "ten_crop", "T": 8, "pooling": "cls"}, resolve_path("notebooks")
    )
    by_name = {s.name: s.parameters for s in steps}
    assert by_name["02_extract_test"]["views"] == by_name["03_probe"]["views"] == "ten_crop"
    assert "views" not in by_name["00_build_index"]
    assert pipeline.main_run_dir(steps) == "processed/runs/timesformer-base-finetuned-k400_T8_cls_tencrop"


@pytest.mark.slow
def test_notebooks_02_and_03_run_a_ten_crop_run_with_papermill(data, tmp_path):
    import nbformat
    import papermill as pm

    nbs = Path(__file__).parents[1] / "notebooks"
    runs = tmp_path / "runs"
    common = dict(runs_dir=str(runs), checkpoint=str(data["encoder"]), T=T, pooling="cls", views="ten_crop")
    for split in ("train", "val", "test"):
        pm.execute_notebook(
            str(nbs / "02_extract.ipynb"),
            str(tmp_path / f"02_{split}.ipynb"),
            cwd=str(tmp_path),
            parameters=dict(
                common,
                split=split,
                index_path=str(data["index"]),
                img_size=S,
                preprocessing="seed",
                num_workers=0,
                batch_size=4,
                precision="fp32",
            ),
            progress_bar=False,
            kernel_name="python3",
        )
    out = runs / "encoder_T8_cls_tencrop"
    assert load_embeddings(out, "val")[0].shape == (7, 10, 64)
    pm.execute_notebook(
        str(nbs / "03_probe.ipynb"),
        str(tmp_path / "03.ipynb"),
        cwd=str(tmp_path),
        parameters=dict(common, n_boot=10, mil_params={"max_iter": 20, "eval_every": 10}),
        progress_bar=False,
        kernel_name="python3",
    )
    assert json.loads((out / "probe-mil" / "metrics.json").read_text())["embeddings"]["n_views"] == 10
    run = nbformat.read(tmp_path / "02_val.ipynb", as_version=4)
    outputs = [o for c in run.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the projection of the mean over views


def test_the_intro_page_names_the_views_of_a_ten_crop_run_only():
    from test_book import METRICS, _manifest

    from ucf_nb.report import book as report

    centre = report.write_intro(_manifest(train=4, test=2), METRICS)
    assert "Views per clip" not in centre
    assert "Views per clip" not in report.write_intro({**_manifest(train=4, test=2), "views": "center"}, METRICS)
    ten = report.write_intro({**_manifest(train=4, test=2), "views": "ten_crop"}, METRICS)
    assert "| Views per clip | ten_crop (emb arrays (N, 10, D); the probes use their mean) |" in ten
