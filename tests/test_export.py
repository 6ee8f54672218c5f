"""Export for the field's code, read back the way the README describes it."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from test_probe import _write_store

from ucf_nb.evaluate.export import block_features, export_features
from ucf_nb.evaluate.field import frame_metrics
from ucf_nb.evaluate.mil import fit_mil
from ucf_nb.index.annotations import read_temporal_annotation
from ucf_nb.store import load_embeddings


def test_block_features_mean_of_covering_clips_else_nearest():
    X = np.array([[1.0, 0], [3, 0], [5, 2]], np.float32)
    # clips [0,32), [16,48), [48,64); 70 frames -> 4 blocks
    F = block_features(X, [0, 16, 48], [32, 48, 64], 70)
    np.testing.assert_allclose(F, [[1, 0], [2, 0], [3, 0], [5, 2]])
    # a gap: block [16,32) touches no clip; [0,16) is 1 frame away... nearest: clip 0 ends at 15
    F = block_features(X[[0, 2]], [0, 40], [16, 56], 48)
    np.testing.assert_allclose(F, [[1, 0], [1, 0], [5, 2]])  # block 1: clip 0 at 1 frame, clip 1 at 8
    with pytest.raises(ValueError, match="one start/end frame per clip"):
        block_features(X, [0], [16], 32)


def _read_export_as_the_readme_says(root):
    """Only what the README documents: lists, one .npy per video, concatenated labels."""
    train = (root / "train.list").read_text().split()
    test = (root / "test.list").read_text().split()
    gt = np.load(root / "test_frame_labels.npy", allow_pickle=False)
    return train, test, gt


def test_export_layout_and_frame_auc_recomputed_from_exported_files(tmp_path):
    out, ann, df = _write_store(tmp_path)
    dest = tmp_path / "export"
    info = export_features(out, dest, annotation_path=ann, progress=False, paths="relative")
    assert json.loads((dest / "export.json").read_text()) == info

    train, test, gt = _read_export_as_the_readme_says(dest)
    n_train_videos = df.loc[df.split.isin(["train", "val"]), "video"].nunique()
    assert len(train) == n_train_videos and len(test) == df.loc[df.split == "test", "video"].nunique()
    # anomalous videos first, then normal, each by name
    normal = [p.split("/")[-1].startswith("Normal") for p in test]
    assert normal == sorted(normal) and test[:2] == sorted(test[:2])
    feats = [np.load(dest / p, allow_pickle=False) for p in test]
    assert all(f.dtype == np.float32 and f.ndim == 2 and f.shape[1] == 8 for f in feats)
    # rows x 16 = the frames of the exported ground truth
    assert sum(16 * len(f) for f in feats) == len(gt) and gt.dtype == np.uint8
    assert all(len(f) == 183 // 16 for f in feats)

    # block rows by hand: block 1 = mean of clips 0 and 1; test video 0 lost clip 3 (failed)
    X, _, rows = load_embeddings(out, "test")
    first = rows["video"] == test[0].split("/")[-1].replace(".npy", ".mp4")
    Xv = np.asarray(X[first.to_numpy()], np.float32)
    np.testing.assert_allclose(feats[0][1], Xv[[0, 1]].mean(0), rtol=1e-6)
    abuse0 = test.index("features/Abusetest001_x264.npy")
    # the first test video written (Normaltest000) has the failed clip 3: block 3 = clip 2 alone
    normal0 = test.index("features/Normaltest000_x264.npy")
    Xn = np.asarray(X[(rows["video"] == "Normaltest000_x264.mp4").to_numpy()], np.float32)
    assert np.isnan(Xn[3]).all()
    np.testing.assert_allclose(feats[normal0][3], Xn[2], rtol=1e-6)
    # labels: annotation 40..120 inclusive in the Abuse test video, 0-based
    start = sum(16 * len(f) for f in feats[:abuse0])
    lab = gt[start : start + 16 * len(feats[abuse0])]
    assert np.flatnonzero(lab).tolist() == list(range(40, 121))

    # a head trained on the exported train features, its block scores -> the field's frame AUC
    bags = [np.load(dest / p) for p in train]
    y = np.array([0 if p.split("/")[-1].startswith("Normal") else 1 for p in train])
    head = fit_mil(bags, y, max_iter=20, eval_every=10, hidden=(16, 8), refit=False)
    block_scores = [head.score_clips(f) for f in feats]
    pred = np.concatenate([np.repeat(s, 16) for s in block_scores])
    auc = roc_auc_score(gt, pred)
    # ... equals ucf_nb's field convention on the same scores, one "clip" per block
    recs = [
        (p.split("/")[-1].replace(".npy", ".mp4"), 16 * b, 16 * b + 16, 183, s)
        for p, sc in zip(test, block_scores)
        for b, s in enumerate(sc)
    ]
    scored = pd.DataFrame(recs, columns=["video", "start_frame", "end_frame", "n_frames", "score"])
    m = frame_metrics(scored, read_temporal_annotation(ann), convention="field", n_boot=10)
    assert m["auc"] == pytest.approx(auc, abs=1e-12)


def test_export_n1d_layout_without_labels_and_bad_layout(tmp_path):
    out, _, _ = _write_store(tmp_path)
    info = export_features(out, tmp_path / "e", layout="n1d", progress=False)
    test = (tmp_path / "e" / "test.list").read_text().split()
    assert np.load(tmp_path / "e" / test[0]).shape == (11, 1, 8)
    assert info["test_frame_labels"] is None and not (tmp_path / "e" / "test_frame_labels.npy").exists()
    with pytest.raises(ValueError, match="layout must be"):
        export_features(out, tmp_path / "e", layout="10crop")


def test_export_command_line(tmp_path, capsys):
    from ucf_nb.evaluate.export import main

    out, ann, _ = _write_store(tmp_path)
    assert main([str(out), str(tmp_path / "cli"), "--annotation", str(ann), "--layout", "n1d"]) == 0
    assert "wrote 9 train and 4 test videos ((n_blocks, 1, D), float32)" in capsys.readouterr().out
    assert (tmp_path / "cli" / "test_frame_labels.npy").is_file()


# ----------------------------------------------- ten-crop layouts, read as the field's code reads them


@pytest.fixture(scope="module")
def demo_tencrop(demo_dir, tmp_path_factory):
    """A real ten-crop run of the demo: its dataset, a 64-pixel tiny encoder, five videos
    (train: two anomalous and one normal; test: one of each), train and test extracted."""
    from ucf_nb import build_index, extract_split
    from ucf_nb.demo import make_demo_encoder

    root = tmp_path_factory.mktemp("demo10")
    enc = make_demo_encoder(root / "encoder", img_size=64)
    df = build_index(demo_dir / "UCF_Crime", probe_threads=0)
    keep = []
    for split, n_anomalous, n_normal in (("train", 2, 1), ("test", 1, 1)):
        videos = df.loc[df["split"] == split].drop_duplicates("video")
        keep += videos.loc[videos["category"] != "Normal", "video"].head(n_anomalous).tolist()
        keep += videos.loc[videos["category"] == "Normal", "video"].head(n_normal).tolist()
    index = root / "index_clips.csv"
    df[df["video"].isin(keep)].to_csv(index, index=False)
    out = root / "runs" / "tiny_T8_mean_tencrop"
    for split in ("train", "test"):
        extract_split(
            split,
            index,
            out_dir=out,
            checkpoint=enc,
            T=8,
            img_size=64,
            preprocessing="seed",
            pooling="mean",
            views="ten_crop",
            device="cpu",
            precision="fp32",
            num_workers=0,
            batch_size=4,
            progress=False,
        )
    return {"run": out, "annotation": demo_dir / "UCF_Crime" / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"}


def _annotated_frames(annotation, video, n):
    """Frame labels of ``video`` as the field builds them: 0-based annotated frames, both ends
    inclusive, up to ``n`` frames."""
    for line in Path(annotation).read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == video:
            lab = np.zeros(n, np.uint8)
            for s, e in zip(parts[2::2], parts[3::2]):
                if int(s) >= 0:
                    lab[int(s) : int(e) + 1] = 1
            return lab[:n]
    raise AssertionError(f"{video} not annotated")


def test_ten_crop_export_reads_as_rtfm_and_mgfn_read_it(demo_tencrop, tmp_path, monkeypatch):
    run = demo_tencrop["run"]
    info = export_features(
        run, tmp_path / "export", annotation_path=demo_tencrop["annotation"], layout="ten_crop", progress=False
    )
    elsewhere = tmp_path / "RTFM"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the field's code runs from its own folder
    train_list, test_list = info["lists"]["train"]["file"], info["lists"]["test"]["file"]
    lines = list((tmp_path / "export" / train_list).read_text().splitlines(keepends=True))
    split = info["split_index"]["value"]
    assert split == 2 and info["split_index"]["lines_per_video"] == 1 and info["split_index"]["left_out"] == []
    assert not info["split_index"]["matches_field_code"] and info["split_index"]["field_code_value"] == 810
    abnormal, normal = lines[:split], lines[split:]
    assert [("Normal" in ln) for ln in abnormal] == [False] * 2 and [("Normal" in ln) for ln in normal] == [True]
    for line in lines:  # dataset.py: np.load(line.strip('\n')), then (10, n, D)
        assert Path(line.strip("\n")).is_absolute()
        f = np.array(np.load(line.strip("\n")), dtype=np.float32).transpose(1, 0, 2)
        assert f.shape[0] == 10 and f.shape[2] == 64
    # test: each file (n, 10, D), its magnitude per crop appended (MGFN), 16 x n ground-truth frames each
    gt = np.load(tmp_path / "export" / "test_frame_labels.npy")
    X, _, rows = load_embeddings(run, "test")
    start = 0
    for line in (tmp_path / "export" / test_list).read_text().splitlines(keepends=True):
        f = np.load(line.strip("\n"))
        n = f.shape[0]
        assert f.shape == (n, 10, 64) and f.dtype == np.float32
        mag = np.linalg.norm(f, axis=2)[:, :, None]
        assert np.concatenate((f, mag), axis=2).shape == (n, 10, 65)
        video = Path(line.strip()).stem + ".mp4"
        mine = rows["video"].to_numpy() == video
        Xv = np.asarray(X[mine], np.float32)  # (clips, 10, D), clips of 32 frames every 16
        np.testing.assert_allclose(f[0], Xv[0], rtol=1e-6)  # block 0: clip 0 alone
        np.testing.assert_allclose(f[1], Xv[[0, 1]].mean(0), rtol=1e-6)  # block 1: clips 0 and 1, each view
        assert n == int(rows.loc[mine, "n_frames"].iloc[0]) // 16
        np.testing.assert_array_equal(
            gt[start : start + 16 * n], _annotated_frames(demo_tencrop["annotation"], video, 16 * n)
        )
        start += 16 * n
    assert start == len(gt) and gt.any()


def test_per_crop_export_reads_as_ur_dmu_reads_it(demo_tencrop, tmp_path, monkeypatch):
    run = demo_tencrop["run"]
    ten = export_features(
        run, tmp_path / "ten", annotation_path=demo_tencrop["annotation"], layout="ten_crop", progress=False
    )
    info = export_features(
        run, tmp_path / "per", annotation_path=demo_tencrop["annotation"], layout="per_crop", progress=False
    )
    (tmp_path / "UR-DMU").mkdir()
    monkeypatch.chdir(tmp_path / "UR-DMU")
    vid_list = [line.split() for line in (tmp_path / "per" / "train.list").read_text().splitlines(keepends=True)]
    split = info["split_index"]["value"]
    assert split == 20 == 10 * ten["split_index"]["value"] and info["split_index"]["field_code_value"] == 8100
    assert len(vid_list) == 30 and info["lists"]["train"]["n_lines"] == 30
    for i, (path,) in enumerate(vid_list):  # label from the file name, as dataset_loader.py does
        label = 0 if "Normal" in path.split("/")[-1] else 1
        assert label == (1 if i < split else 0)
        assert np.load(path).ndim == 2
    # test lines grouped by ten: one video's ten crops, k = 0..9, equal to the ten-crop file's crops
    gt = np.load(tmp_path / "per" / "test_frame_labels.npy")
    np.testing.assert_array_equal(gt, np.load(tmp_path / "ten" / "test_frame_labels.npy"))
    test_lines = [line.split()[0] for line in (tmp_path / "per" / "test.list").read_text().splitlines(keepends=True)]
    ten_lines = [line.strip() for line in (tmp_path / "ten" / "test.list").read_text().splitlines(keepends=True)]
    assert len(test_lines) == 10 * len(ten_lines)
    n_frames, group = 0, []
    for i, path in enumerate(test_lines):
        group.append(np.load(path))
        if (i + 1) % 10 == 0:
            names = [p.split("/")[-1] for p in test_lines[i - 9 : i + 1]]
            stem = names[0].split("__")[0]
            assert names == [f"{stem}__{k}.npy" for k in range(10)]
            assert ten_lines[i // 10].endswith(f"/{stem}.npy")
            np.testing.assert_array_equal(np.stack(group, axis=1), np.load(ten_lines[i // 10]))
            n_frames += 16 * len(group[0])
            group = []
    assert n_frames == len(gt)


def _ten_crop_store(tmp_path, *, fail_video=None):
    """A synthetic ten-crop run (views="ten_crop", (n, 10, 8) rows), optionally with every clip of
    one video failed."""
    from ucf_nb.demo.synthetic import write_synthetic_store

    recs, ann = [], []
    for split, cats in (("train", ["Abuse", "Arson", "Normal"]), ("test", ["Abuse", "Normal"])):
        for v, cat in enumerate(cats):
            name = f"{cat}{split}{v:03d}_x264.mp4"
            for k in range(4):
                recs.append(
                    dict(
                        split=split,
                        y=int(cat != "Normal"),
                        category=cat,
                        path=f"videos/{name}",
                        clip_idx=k,
                        start_frame=16 * k,
                        end_frame=16 * k + 32,
                        clip_len=32,
                        stride=16,
                        fps=30.0,
                        n_frames=80,
                        video=name,
                        anomaly_frac=np.nan,
                    )
                )
            if split == "test":
                ann.append(f"{name}  {cat}  {10 if cat != 'Normal' else -1}  {40 if cat != 'Normal' else -1}  -1  -1")
    df = pd.DataFrame(recs)

    def embed(split, sub):
        n_real = np.where(sub["video"].to_numpy() == fail_video, 0, 8)
        return [np.random.default_rng(1).standard_normal((len(sub), 10, 8)).astype(np.float32)], n_real

    out, _, ann_path = write_synthetic_store(
        tmp_path,
        df,
        embed,
        embedding_dim=8,
        annotation_lines=ann,
        index_name="index.csv",
        settings={"views": "ten_crop"},
    )
    return out, ann_path


def test_one_view_runs_refuse_the_ten_crop_layouts_with_one_sentence(tmp_path):
    out, _, _ = _write_store(tmp_path)
    for layout in ("ten_crop", "per_crop"):
        with pytest.raises(
            ValueError,
            match=rf"layout='{layout}' needs ten views per clip, but .* was extracted "
            r"with views='center' \(one view\): extract the run again with "
            r"views='ten_crop'",
        ):
            export_features(out, tmp_path / "e", layout=layout, progress=False)
    with pytest.raises(ValueError, match="paths must be 'absolute' or 'relative'"):
        export_features(out, tmp_path / "e", paths="cwd", progress=False)


def test_split_index_names_the_training_videos_left_out(tmp_path, capsys):
    from ucf_nb.evaluate.export import main

    out, ann = _ten_crop_store(tmp_path, fail_video="Arsontrain001_x264.mp4")
    info = export_features(out, tmp_path / "per", layout="per_crop", progress=False)
    si = json.loads((tmp_path / "per" / "export.json").read_text())["split_index"]
    assert si == info["split_index"]
    # Arson's clips all failed: one anomalous video fewer, so the anomalous lines end at 10, not 20
    assert si["value"] == 10 and si["n_anomalous_videos"] == 1 and si["n_normal_videos"] == 1
    assert si["left_out"] == [
        {"video": "Arsontrain001_x264.mp4", "split": "train", "reason": "no clip was embedded", "anomalous": True}
    ]
    lines = (tmp_path / "per" / "train.list").read_text().splitlines()
    assert len(lines) == 20
    assert all("Normal" not in ln for ln in lines[:10]) and all("Normal" in ln for ln in lines[10:])
    # nd and n1d of a ten-crop run: the mean over the crops, and said so
    nd = export_features(out, tmp_path / "nd", layout="nd", paths="relative", progress=False)
    X, _, rows = load_embeddings(out, "test")
    f = np.load(tmp_path / "nd" / "features" / "Abusetest000_x264.npy")
    np.testing.assert_allclose(f[0], np.asarray(X[0], np.float32).mean(0), rtol=1e-6)
    assert nd["crops"].startswith("the mean over each clip's ten crops") and nd["split_index"]["value"] == 1
    # the command line prints the split index
    assert main([str(out), str(tmp_path / "cli"), "--layout", "ten_crop", "--annotation", str(ann)]) == 0
    printed = capsys.readouterr().out
    assert (
        "split index: 1 (the first 1 lines of train.list are the 1 anomalous training videos; the field's code "
        "uses 810: set it to 1); training videos left out: Arsontrain001_x264.mp4" in printed
    )
    assert main([str(tmp_path / "nowhere"), str(tmp_path / "cli2"), "--layout", "ten_crop"]) == 1
