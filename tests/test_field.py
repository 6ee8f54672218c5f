"""The field's frame-level protocol: truncation to 16-frame blocks, bootstrap CI, false alarms."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ucf_nb.evaluate.field import (
    auc_bootstrap_ci,
    false_alarm_rate,
    field_frame_count,
    frame_metrics,
    frame_table,
    weighted_auc,
)
from ucf_nb.evaluate.metrics import frame_level_auc


def test_field_frame_count_drops_the_last_partial_block():
    assert field_frame_count(37) == 32
    assert field_frame_count(15) == 0
    assert field_frame_count(16) == 16
    np.testing.assert_array_equal(field_frame_count(np.array([0, 31, 32, 33])), [0, 16, 32, 32])
    with pytest.raises(ValueError, match="n_frames must be >= 0"):
        field_frame_count(-1)


def _block_rows(block_scores: dict, n_frames: dict) -> pd.DataFrame:
    """One clip per non-overlapping 16-frame block, as the field's features are."""
    recs = []
    for v, scores in block_scores.items():
        for k, s in enumerate(scores):
            recs.append((v, 16 * k, 16 * k + 16, n_frames[v], s))
    return pd.DataFrame(recs, columns=["video", "start_frame", "end_frame", "n_frames", "score"])


def _field_gt_by_hand(lines: list[str], n_frames: dict) -> np.ndarray:
    """The field's gt-ucf.npy, written from the annotation text as the field's scripts do:
    frames 0-based, both ends inclusive, floor(n / 16) * 16 frames per video, videos in list order."""
    gt = []
    for line in lines:
        name, _cat, *nums = line.split()
        v = np.zeros(16 * (n_frames[name] // 16))
        for a, b in zip(nums[0::2], nums[1::2]):
            if int(a) >= 0:
                v[int(a) : int(b) + 1] = 1
        gt.append(v)
    return np.concatenate(gt)


def test_field_auc_equals_the_fields_own_recipe(tmp_path):
    from ucf_nb.index.annotations import read_temporal_annotation

    rng = np.random.default_rng(3)
    n_frames = {"Abuse001_x264.mp4": 100, "Arson002_x264.mp4": 70, "Normal_Videos_003_x264.mp4": 53}
    lines = [
        "Abuse001_x264.mp4  Abuse  20  47  -1  -1",
        "Arson002_x264.mp4  Arson  5  9  60  69",  # second event cut at the last full block (64)
        "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1",
    ]
    ann = tmp_path / "ann.txt"
    ann.write_text("\n".join(lines) + "\n")
    # block scores rounded to 1/8 so that ties occur across videos
    blocks = {v: np.round(rng.random(-(-n // 16)) * 8) / 8 for v, n in n_frames.items()}
    rows = _block_rows(blocks, n_frames)
    intervals = read_temporal_annotation(ann)
    gt = _field_gt_by_hand(lines, n_frames)
    pred = np.concatenate([np.repeat(blocks[v][: n // 16], 16) for v, n in n_frames.items()])
    expect = roc_auc_score(gt, pred)
    m = frame_metrics(rows, intervals, convention="field", n_boot=10)
    assert m["auc"] == pytest.approx(expect, abs=1e-12)
    assert m["details"]["n_frames"] == len(gt) == 96 + 64 + 48
    assert m["details"]["n_frames_anomalous"] == int(gt.sum()) == 28 + 5 + 4  # 60-63 of the cut event
    # the book's own convention keeps every frame and matches frame_level_auc
    assert frame_metrics(rows, intervals, convention="all", n_boot=10)["auc"] == pytest.approx(
        frame_level_auc(rows, intervals), abs=1e-12
    )
    t = frame_table(rows, intervals, convention="field")
    assert list(t.n_frames) == [96, 64, 48] and list(t.anomalous) == [True, True, False]


def test_weighted_auc_matches_sklearn_and_integer_weights_repeat_samples():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) * 10) / 10 + 0.3 * y
    assert weighted_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    w = rng.integers(0, 4, 300)
    assert weighted_auc(y, s, w) == pytest.approx(roc_auc_score(np.repeat(y, w), np.repeat(s, w)), abs=1e-12)
    assert weighted_auc([1, 1], [0.1, 0.2]) is None
    with pytest.raises(ValueError, match="NaN"):
        weighted_auc([0, 1], [0.1, np.nan])


def _videos(n_videos, rng, frames=50, signal=1.0):
    labels, scores, groups = [], [], []
    for v in range(n_videos):
        lab = np.zeros(frames, int)
        if v % 2:
            lab[10:30] = 1
        labels.append(lab)
        scores.append(rng.normal(size=frames) + signal * lab + rng.normal())  # a per-video offset
        groups.append(np.full(frames, v))
    return np.concatenate(labels), np.concatenate(scores), np.concatenate(groups)


def test_bootstrap_ci_agrees_with_explicit_resampling_and_is_seeded():
    rng = np.random.default_rng(1)
    y, s, g = _videos(20, rng)
    a = auc_bootstrap_ci(y, s, g, n_boot=400, seed=5)
    assert a == auc_bootstrap_ci(y, s, g, n_boot=400, seed=5)
    assert a["ci"] != auc_bootstrap_ci(y, s, g, n_boot=400, seed=6)["ci"]
    lo, hi = a["ci"]
    assert lo < roc_auc_score(y, s) < hi
    # explicit resampling: concatenate the frames of the drawn videos, sklearn's AUC
    r = np.random.default_rng(99)
    aucs = []
    for _ in range(400):
        pick = r.integers(0, 20, 20)
        idx = np.concatenate([np.flatnonzero(g == v) for v in pick])
        if len(np.unique(y[idx])) == 2:
            aucs.append(roc_auc_score(y[idx], s[idx]))
    lo2, hi2 = np.quantile(aucs, [0.025, 0.975])
    assert abs(lo - lo2) < 0.04 and abs(hi - hi2) < 0.04
    # more videos: a narrower interval
    y4, s4, g4 = _videos(320, np.random.default_rng(2))
    lo4, hi4 = auc_bootstrap_ci(y4, s4, g4, n_boot=200, seed=0)["ci"]
    assert hi4 - lo4 < (hi - lo) / 2


def test_bootstrap_ci_of_one_class_is_none_and_bad_input_is_named():
    out = auc_bootstrap_ci([0, 0, 0], [0.1, 0.2, 0.3], [0, 1, 1], n_boot=5)
    assert out["ci"] is None and out["n_skipped"] == 5
    with pytest.raises(ValueError, match="level must be a finite number > 0 and < 1, e.g. 0.95, got level=95"):
        auc_bootstrap_ci([0, 1], [0.1, 0.2], [0, 1], level=95)
    with pytest.raises(ValueError, match="one of each per frame"):
        auc_bootstrap_ci([0, 1], [0.1, 0.2], [0])


def test_false_alarm_rate_counts_scores_at_or_above_the_threshold():
    assert false_alarm_rate([0.2, 0.5, 0.7, np.nan]) == pytest.approx(2 / 3)
    assert false_alarm_rate([0.2, 0.5, 0.7], threshold=0.6) == pytest.approx(1 / 3)
    assert false_alarm_rate([np.nan]) is None


def test_frame_metrics_false_alarms_only_on_normal_videos_and_only_evaluated_frames():
    n_frames = {"a": 40, "n": 40}
    # normal video: block 0 .9, block 1 .1, the tail block (frames 32-39) .9 is not evaluated
    rows = _block_rows({"a": [0.2, 0.8, 0.9], "n": [0.9, 0.1, 0.9]}, n_frames)
    intervals = {"a": [(16, 32)], "n": []}
    m = frame_metrics(rows, intervals, convention="field", n_boot=20)
    assert m["far"] == pytest.approx(0.5)
    assert m["details"]["n_frames_normal_videos"] == 32
    assert frame_metrics(rows, intervals, convention="all", n_boot=20)["far"] == pytest.approx(24 / 40)
    ma = frame_metrics(rows, intervals, convention="field", anomalous_only=True, n_boot=20)
    assert ma["far"] is None and ma["auc"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="convention must be one of"):
        frame_metrics(rows, intervals, convention="rtfm")


def test_bootstrap_pair_counts_give_the_exact_auc_of_any_resample():
    from ucf_nb.evaluate.field import _video_pair_counts

    rng = np.random.default_rng(7)
    y, s, g = _videos(12, rng)
    s = np.round(s, 1)  # ties within and across videos
    A, pos, neg = _video_pair_counts(y, s, g, 12)
    for _ in range(5):
        m = rng.integers(0, 3, 12).astype(float)
        expect = weighted_auc(y, s, m[g])
        assert m @ A @ m / ((m @ pos) * (m @ neg)) == pytest.approx(expect, abs=1e-12)
