"""Export for the field's code, read back the way the README describes it."""
import json

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
    np.testing.assert_allclose(F, [[1, 0], [1, 0], [5, 2]])       # block 1: clip 0 at 1 frame, clip 1 at 8
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
    info = export_features(out, dest, annotation_path=ann, progress=False)
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
    lab = gt[start:start + 16 * len(feats[abuse0])]
    assert np.flatnonzero(lab).tolist() == list(range(40, 121))

    # a head trained on the exported train features, its block scores -> the field's frame AUC
    bags = [np.load(dest / p) for p in train]
    y = np.array([0 if p.split("/")[-1].startswith("Normal") else 1 for p in train])
    head = fit_mil(bags, y, max_iter=20, eval_every=10, hidden=(16, 8), refit=False)
    block_scores = [head.score(f) for f in feats]
    pred = np.concatenate([np.repeat(s, 16) for s in block_scores])
    auc = roc_auc_score(gt, pred)
    # ... equals ucf_nb's field convention on the same scores, one "clip" per block
    recs = [(p.split("/")[-1].replace(".npy", ".mp4"), 16 * b, 16 * b + 16, 183, s)
            for p, sc in zip(test, block_scores) for b, s in enumerate(sc)]
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
