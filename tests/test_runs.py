"""ucf_nb.runs: run folders, the comparison table, the per-category table and the ROC points.

The run folders here hold the files extraction and probes write (manifest.json,
probe*/metrics.json, probe*/scores_test.csv) with chosen values, so that the ordering and the
joins can be checked by hand; the real pipeline writing them is tested by the demo book
(test_book.py), whose comparison page ranks the demo's three families.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ucf_nb import compare_runs, literature_note, per_category_table, roc_points, run_dir
from ucf_nb.encoders.tiny import make_tiny_encoder
from ucf_nb.evaluate.runs import encoder_defaults, find_runs, read_run, run_name, run_settings


def _manifest(checkpoint, model_type, dim, T, seconds=(10.0, 5.0)):
    splits = {s: {"complete": True, "n_done": 100, "seconds": sec, "shards": [{"device": "cpu"}]}
              for s, sec in zip(("train", "test"), seconds)}
    return {"model": {"checkpoint": checkpoint, "revision": None, "model_type": model_type}, "T": T, "img_size": 224,
            "embedding_dim": dim, "pooling": "mean", "precision": "fp32",
            "index": {"path": "x.csv", "sha256": "ab" * 32},
            "preprocessing": {"preset": "checkpoint", "resize": "shortest_edge", "size": 256, "crop_size": 224,
                              "interpolation": "linear", "rescale_factor": 1 / 127.5, "offset": True,
                              "mean": [0.5] * 3, "std": [0.5] * 3},
            "splits": splits}


def _write_run(root, name, manifest, heads):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for head, metrics in heads.items():
        sub = folder / ("probe" if head == "linear" else f"probe-{head}")
        sub.mkdir()
        (sub / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.fixture()
def runs_root(tmp_path):
    root = tmp_path / "runs"
    _write_run(root, "vivit_T32_cls", _manifest("google/vivit-b-16x2-kinetics400", "vivit", 768, 32),
               {"linear": {"clip_auc_test": 0.70, "video_auc_test": 0.8, "frame_auc_test": 0.66,
                           "per_category_auc_test": {"Arson": 0.9, "Abuse": None}}})
    _write_run(root, "clip_T8_mean", _manifest("openai/clip-vit-base-patch16", "clip", 512, 8, seconds=(2.0, 2.0)),
               {"linear": {"clip_auc_test": 0.60, "video_auc_test": 0.7, "frame_auc_test": 0.81,
                           "per_category_auc_test": {"Arson": 0.5, "Abuse": 0.75}},
                "mil": {"clip_auc_test": 0.65, "frame_auc_test": 0.84, "frame_auc_test_field": 0.83,
                        "frame_auc_test_field_ci95": [0.79, 0.87], "frame_far_test_field": 0.02}})
    _write_run(root, "unprobed_T16_mean", _manifest("MCG-NJU/videomae-base-finetuned-kinetics", "videomae", 768, 16),
               {})
    (root / "not_a_run").mkdir()
    return root


def test_run_name_from_checkpoint_T_and_pooling():
    assert run_name("facebook/timesformer-base-finetuned-k400", T=8, pooling="cls") == \
        "timesformer-base-finetuned-k400_T8_cls"
    assert run_name("demo/encoders/clip/", T=16, pooling="mean") == "clip_T16_mean"
    assert run_dir("x/y", T=4, pooling="mean", root="build/r") == "build/r/y_T4_mean"
    assert run_dir("x/y", name="mine", root="build/r") == "build/r/mine"
    with pytest.raises(ValueError, match="T must be a positive int"):
        run_name("a/b", T=0, pooling="cls")
    with pytest.raises(ValueError, match=r"run name '\.\./up' must be one folder name"):
        run_dir("a/b", name="../up")


def test_run_dir_takes_the_family_defaults_from_the_config(tmp_path):
    folder = make_tiny_encoder(tmp_path / "vivit-tiny", "vivit", image_size=64, num_frames=4)
    # ViViT's T is fixed by its checkpoint (config.num_frames), not by the family's 32
    assert encoder_defaults(folder) == {"family": "vivit", "T": 4, "img_size": 224, "pooling": "cls"}
    assert run_dir(folder, root=tmp_path / "runs").endswith("runs/vivit-tiny_T4_cls")
    assert run_dir(folder, T=6, pooling="mean", root=tmp_path / "runs").endswith("runs/vivit-tiny_T6_mean")


def test_compare_runs_one_row_per_head_sorted_by_the_headline(runs_root):
    assert find_runs(runs_root) == ["clip_T8_mean", "unprobed_T16_mean", "vivit_T32_cls"]
    table = compare_runs(root=runs_root)
    # the MIL head reports the field protocol: it becomes the headline, the other heads follow
    assert table.attrs["headline"] == "frame_auc_test_field"
    assert list(zip(table["run"], table["head"])) == [("clip_T8_mean", "mil"), ("clip_T8_mean", "linear"),
                                                      ("vivit_T32_cls", "linear"), ("unprobed_T16_mean", "(no probe)")]
    first = table.iloc[0]
    assert (first["family"], first["embedding_dim"], first["T"], first["img_size"]) == ("clip", 512, 8, 224)
    assert first["clips_per_s"] == 50.0 and first["device"] == "cpu"
    # the headline's bootstrap interval and false-alarm rate travel with it; absent where not reported
    assert (first["frame_auc_test_field_ci_low"], first["frame_auc_test_field_ci_high"]) == (0.79, 0.87)
    assert first["frame_far_test_field"] == 0.02 and np.isnan(table.loc[1, "frame_auc_test_field_ci_low"])
    assert np.isnan(table.loc[2, "frame_auc_test_field"]) and table.loc[2, "frame_auc_test"] == 0.66
    # without the MIL head: frame_auc_test leads and no field column is invented
    linear = compare_runs(["vivit_T32_cls"], root=runs_root)
    assert linear.attrs["headline"] == "frame_auc_test" and "frame_auc_test_field" not in linear.columns
    with pytest.raises(FileNotFoundError, match=r"run\(s\) \['nope'\] not found"):
        compare_runs(["nope"], root=runs_root)
    with pytest.raises(TypeError, match="list of run names"):
        compare_runs("clip_T8_mean", root=runs_root)


def test_per_category_table_and_settings(runs_root):
    table = per_category_table(root=runs_root)
    assert list(table.columns) == ["clip_T8_mean", "vivit_T32_cls"] and list(table.index) == ["Abuse", "Arson"]
    assert table.loc["Arson", "vivit_T32_cls"] == 0.9 and np.isnan(table.loc["Abuse", "vivit_T32_cls"])
    settings = run_settings(root=runs_root).set_index("run")
    assert "x * 0.00784314 - 1" in settings.loc["vivit_T32_cls", "preprocessing"]
    assert settings.loc["clip_T8_mean", "splits"] == "train, test"


def test_roc_points_clip_level_from_each_heads_scores(runs_root):
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(50, int), np.ones(50, int)]
    for head, sub in (("linear", "probe"), ("mil", "probe-mil")):
        score = y + rng.normal(0, 0.8 if head == "linear" else 0.3, len(y))
        score[0] = np.nan  # a failed clip is left out
        pd.DataFrame({"row": np.arange(100), "video": "v", "clip_idx": 0, "y": y, "score": score}) \
            .to_csv(runs_root / "clip_T8_mean" / sub / "scores_test.csv", index=False)
    points = roc_points(root=runs_root)
    assert set(points) == {"clip_T8_mean", "clip_T8_mean (mil)"}
    assert points["clip_T8_mean (mil)"]["auc"] > points["clip_T8_mean"]["auc"] > 0.5
    assert all(p["level"] == "clip" and p["tpr"][-1] == 1.0 for p in points.values())


def test_literature_note_says_what_is_comparable(runs_root):
    note = literature_note(compare_runs(root=runs_root))
    assert "75.41" in note and "84.30" in note and "88.02" in note
    assert "`frame_auc_test_field` follows that protocol" in note and "no published counterpart" in note
    assert "Demo run" in literature_note(compare_runs(["vivit_T32_cls"], root=runs_root), demo=True)
    assert "frame_auc_test_field" not in literature_note(compare_runs(["vivit_T32_cls"], root=runs_root))


def test_read_run_names_heads_and_refuses_a_folder_without_manifest(runs_root):
    run = read_run(runs_root / "clip_T8_mean")
    assert sorted(run["heads"]) == ["linear", "mil"] and run["manifest"]["T"] == 8
    with pytest.raises(FileNotFoundError, match="manifest.json not found"):
        read_run(runs_root / "not_a_run")
