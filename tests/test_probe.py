"""Probe metrics against hand computations, the probe fit, and run_probe through a real store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ucf_nb.evaluate.linear import fit_probe
from ucf_nb.evaluate.metrics import (
    clip_metrics,
    evaluate_probe,
    frame_level_auc,
    frame_scores,
    per_category_auc,
    video_auc,
)
from ucf_nb.evaluate.probe import run_probe
from ucf_nb.index.annotations import VideoAnnotation


def _pairs_auc(pos, neg):
    """ROC AUC by counting pairs: a win counts 1, a tie 1/2."""
    pos, neg = np.asarray(pos, float)[:, None], np.asarray(neg, float)[None, :]
    return float(((pos > neg) + 0.5 * (pos == neg)).sum() / (pos.size * neg.size))


# ------------------------------------------------------------------------------ clip level


def test_clip_metrics_match_hand_computation_and_drop_nan():
    y = [0, 0, 1, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8, np.nan]  # the last clip failed
    m = clip_metrics(y, s)
    # pairs: 0.35 beats 0.1 only, 0.8 beats both -> 3 of 4
    assert m["auc"] == pytest.approx(0.75)
    # ranked 0.8(+) 0.4(-) 0.35(+) 0.1(-): precision 1 at recall 1/2, 2/3 at recall 1
    assert m["ap"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert (m["n"], m["n_dropped"]) == (4, 1)


def test_clip_metrics_one_class_is_none_and_bad_lengths_raise():
    m = clip_metrics([1, 1], [0.2, 0.3])
    assert m["auc"] is None and m["ap"] is None
    with pytest.raises(ValueError, match="one score per clip"):
        clip_metrics([0, 1, 1], [0.2, 0.3])


def test_per_category_auc_each_category_against_normal_clips():
    df = pd.DataFrame(
        {
            "category": ["Normal", "Normal", "Abuse", "Abuse", "Arson", "Stealing"],
            "y": [0, 0, 1, 1, 1, 1],
            "score": [0.1, 0.3, 0.2, 0.5, 0.05, np.nan],
        }
    )
    got = per_category_auc(df)
    assert got["Abuse"] == pytest.approx(_pairs_auc([0.2, 0.5], [0.1, 0.3])) == pytest.approx(0.75)
    assert got["Arson"] == pytest.approx(0.0)
    assert got["Stealing"] is None  # its only clip failed
    assert "Normal" not in got and list(got) == sorted(got)


def test_video_auc_max_and_mean_pooling_with_a_tie():
    df = pd.DataFrame(
        {
            "video": ["A", "A", "B", "B", "C", "C", "D", "D"],
            "category": ["Normal"] * 2 + ["Abuse"] * 2 + ["Normal"] * 2 + ["Arson"] * 2,
            "y": [0, 0, 1, 1, 0, 0, 1, 1],
            "score": [0.1, 0.9, 0.6, 0.7, 0.2, 0.3, 0.95, 0.05],
        }
    )
    # max: A .9, C .3 (normal) vs B .7, D .95 -> B>C, D>A, D>C: 3 of 4
    assert video_auc(df, "max") == pytest.approx(_pairs_auc([0.7, 0.95], [0.9, 0.3])) == pytest.approx(0.75)
    # mean: A .5, C .25 vs B .65, D .5 -> B wins twice, D ties A and beats C: 3.5 of 4
    assert video_auc(df, "mean") == pytest.approx(0.875)
    with pytest.raises(ValueError, match="pool must be"):
        video_auc(df, "median")


# ------------------------------------------------------------------------------ frame level


def _frame_fixture():
    """v1: 10 frames, overlapping clips, uncovered tail; v2: 12 frames, a failed clip leaves a gap."""
    rows = pd.DataFrame(
        {
            "video": ["v1", "v1", "v2", "v2", "v2"],
            "category": ["Abuse", "Abuse", "Normal", "Normal", "Normal"],
            "y": [1, 1, 0, 0, 0],
            "start_frame": [0, 2, 2, 4, 9],
            "end_frame": [4, 6, 4, 8, 11],
            "n_frames": [10, 10, 12, 12, 12],
            "score": [0.25, 0.75, 0.5, np.nan, 1.0],
        },
        index=[10, 11, 20, 21, 22],
    )
    # overlapping annotated intervals, half-open: frames 3..6 anomalous
    intervals = {"v1": [(3, 6), (5, 7)], "v2": []}
    # by hand: frames 0-1 one clip (.25), 2-3 both (.5), 4-5 one clip (.75), 6-9 uncovered ->
    # nearest clip [2,6) (.75)
    v1 = [0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75]
    # v2: 0-1 before the first clip -> .5; 2-3 covered .5; gap 4-8 (clip [4,8) failed):
    # 4: 1 from [2,4), 5 from [9,11) -> .5; 5: 2 vs 4 -> .5; 6: 3 vs 3 -> tie, mean .75;
    # 7: 4 vs 2 -> 1; 8: 1; 9-10 covered 1; 11 after the last clip -> 1
    v2 = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0]
    labels1 = [0, 0, 0, 1, 1, 1, 1, 0, 0, 0]
    return rows, intervals, np.array(v1), np.array(v2), np.array(labels1)


def test_frame_scores_overlaps_uncovered_frames_and_gaps_by_hand():
    rows, _, v1, v2, _ = _frame_fixture()
    fs = frame_scores(rows)
    assert list(fs) == ["v1", "v2"]
    np.testing.assert_array_equal(fs["v1"], v1)
    np.testing.assert_array_equal(fs["v2"], v2)


def test_frame_scores_of_the_same_clips_tie_exactly():
    # frames 4-5 of "a" are covered by the .3 clip alone after the .1 clip has ended; a naive
    # running float sum gives (.1 + .3) - .1 != .3 there, which would break the tie with "b"
    rows = pd.DataFrame(
        {
            "video": ["a", "a", "b"],
            "start_frame": [0, 2, 0],
            "end_frame": [4, 6, 2],
            "n_frames": [6, 6, 2],
            "score": [0.1, 0.3, 0.3],
        }
    )
    fs = frame_scores(rows)
    assert fs["a"][4] == fs["a"][5] == fs["b"][0] == fs["b"][1]
    np.testing.assert_allclose(fs["a"], [0.1, 0.1, 0.2, 0.2, 0.3, 0.3], rtol=1e-9)


def test_frame_scores_without_n_frames_end_at_the_last_clip():
    rows = pd.DataFrame({"video": ["a", "a"], "start_frame": [0, 2], "end_frame": [4, 6], "score": [0.0, 1.0]})
    np.testing.assert_array_equal(frame_scores(rows)["a"], [0, 0, 0.5, 0.5, 1, 1])


def test_frame_labels_union_of_half_open_intervals_cut_at_the_end():
    def frame_labels(intervals, n):
        return VideoAnnotation("Abuse", tuple(intervals)).frame_labels(n)

    np.testing.assert_array_equal(frame_labels([(3, 6), (5, 7)], 10), [0, 0, 0, 1, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(frame_labels([(8, 20)], 10), [0] * 8 + [1, 1])
    np.testing.assert_array_equal(frame_labels([], 3), [0, 0, 0])


def test_frame_level_auc_all_videos_and_anomalous_only_by_hand():
    rows, intervals, v1, v2, labels1 = _frame_fixture()
    pos = v1[labels1 == 1]
    neg_all = np.concatenate([v1[labels1 == 0], v2])
    auc, det = frame_level_auc(rows, intervals, return_details=True)
    # counted by hand: positives .5 and three .75 against 18 negative frames -> 38.5 / 72;
    # uncovered: v1 6-9, v2 0-1, 4-8 and 11
    assert auc == pytest.approx(38.5 / 72) == pytest.approx(_pairs_auc(pos, neg_all))
    assert det == {
        "n_videos": 2,
        "n_frames": 22,
        "n_frames_anomalous": 4,
        "n_frames_uncovered": 12,
        "n_videos_unscored": 0,
    }
    auc_a = frame_level_auc(rows, intervals, anomalous_only=True)
    assert auc_a == pytest.approx(16 / 24) == pytest.approx(_pairs_auc(pos, v1[labels1 == 0]))


def test_frame_level_auc_accepts_annotation_objects_and_rejects_unannotated_videos():
    from ucf_nb.index.annotations import VideoAnnotation

    rows, intervals, *_ = _frame_fixture()
    ann = {"v1": VideoAnnotation("Abuse", ((3, 7),)), "v2": VideoAnnotation("Normal", ())}
    assert frame_level_auc(rows, ann) == pytest.approx(frame_level_auc(rows, intervals))
    with pytest.raises(ValueError, match="no entry in intervals"):
        frame_level_auc(rows, {"v1": [(3, 7)]})


def test_frame_level_auc_scales_to_many_frames():
    # 300 videos x 4000 frames (1.2 M frames): vectorised, checked against a per-video loop
    rng = np.random.default_rng(0)
    recs = []
    for v in range(300):
        for k in range((4000 - 32) // 16 + 1):
            recs.append((f"v{v:03d}", 16 * k, 16 * k + 32, 4000))
    rows = pd.DataFrame(recs, columns=["video", "start_frame", "end_frame", "n_frames"])
    rows["score"] = rng.random(len(rows))
    fs = frame_scores(rows)
    one = rows[rows.video == "v007"]
    expect = np.zeros(4000)
    cnt = np.zeros(4000)
    for s, e, sc in zip(one.start_frame, one.end_frame, one.score):
        expect[s:e] += sc
        cnt[s:e] += 1
    np.testing.assert_allclose(fs["v007"], expect / cnt, rtol=1e-9)
    assert sum(len(a) for a in fs.values()) == 1_200_000


# ------------------------------------------------------------------------------ evaluate


def test_evaluate_probe_reports_missing_metrics_with_reasons():
    rows, intervals, *_ = _frame_fixture()
    m = evaluate_probe({"test": rows})
    assert m["frame_auc_test"] is None and "no temporal annotation" in m["missing_reasons"]["frame_auc_test"]
    assert m["clip_auc_val"] is None and "val split has no embeddings" in m["missing_reasons"]["clip_auc_val"]
    assert m["clip_auc_test"] == pytest.approx(_pairs_auc([0.25, 0.75], [0.5, 1.0]))
    assert m["counts"]["test"] == {"n_clips": 5, "n_scored": 4, "n_failed": 1, "n_videos": 2}

    more = dict(intervals, v3=[(0, 5)], v4=[])
    m = evaluate_probe({"test": rows}, more)
    reason = m["missing_reasons"]["frame_auc_test_anomalous"]
    assert m["frame_auc_test"] is None and "2 of the 4 annotated videos are not in the test split" in reason

    m = evaluate_probe({"test": rows}, intervals)
    assert m["frame_auc_test"] == pytest.approx(38.5 / 72)
    assert "frame_auc_test" not in m["missing_reasons"]
    assert m["frame_level"]["anomalous"]["n_videos"] == 1


# ------------------------------------------------------------------------------ fit


def _blobs(n, d=16, seed=0, shift=1.0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int8)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 3, d) + 5.0
    X[:, :3] += shift * y[:, None]
    return X.astype(np.float16), y


def test_fit_probe_matches_sklearn_pipeline_and_drops_nan_rows():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _blobs(400)
    X[[5, 17]] = np.nan  # two failed clips
    probe = fit_probe(X, y, Cs=[0.5])
    assert probe.settings["n_train"] == 398 and probe.settings["n_train_failed"] == 2
    assert probe.settings["C"] == 0.5 and probe.settings["class_weight"] == "balanced"
    ok = np.isfinite(X).all(axis=1)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, class_weight="balanced", max_iter=1000))
    ref.fit(X[ok].astype(np.float64), y[ok])
    p = probe.score_clips(X)
    assert np.isnan(p[[5, 17]]).all()
    np.testing.assert_allclose(p[ok], ref.predict_proba(X[ok].astype(np.float64))[:, 1], atol=2e-3)


def test_fit_probe_chooses_C_on_val_and_is_deterministic():
    X, y = _blobs(600, seed=1)
    Xv, yv = _blobs(300, seed=2)
    a = fit_probe(X, y, X_val=Xv, y_val=yv, Cs=[1e-4, 1e-2, 1.0], max_train=500, seed=3, grid_n_train=200)
    b = fit_probe(X, y, X_val=Xv, y_val=yv, Cs=[1e-4, 1e-2, 1.0], max_train=500, seed=3, grid_n_train=200)
    s = a.settings
    assert set(s["val_auc_by_C"]) == {repr(c) for c in (1e-4, 1e-2, 1.0)}
    assert s["val_auc_by_C"][repr(s["C"])] == max(s["val_auc_by_C"].values())
    assert (s["n_train"], s["grid_n_train"]) == (500, 200)
    np.testing.assert_array_equal(a.coef, b.coef)
    assert a.settings == b.settings
    c = fit_probe(X, y, X_val=Xv, y_val=yv, Cs=[1e-4, 1e-2, 1.0], max_train=500, seed=4, grid_n_train=200)
    assert not np.array_equal(a.coef, c.coef)  # another seed draws another subsample


def test_fit_probe_fast_mode_is_the_prototype_recipe():
    from sklearn.linear_model import LogisticRegression

    X, y = _blobs(300, seed=5)
    probe = fit_probe(X, y, fast=True, max_train=120)
    assert probe.settings["mode"] == "fast" and probe.settings["standardize"] is False
    ref = LogisticRegression(max_iter=200).fit(X[:120].astype(np.float32), y[:120])
    np.testing.assert_allclose(
        probe.decision_function(X), ref.decision_function(X.astype(np.float32)), rtol=1e-3, atol=1e-3
    )


def test_fit_probe_validates_inputs():
    X, y = _blobs(50)
    with pytest.raises(ValueError, match="one label per row"):
        fit_probe(X, y[:-1])
    with pytest.raises(ValueError, match="must hold 0"):
        fit_probe(X, np.full(50, 2))
    with pytest.raises(ValueError, match=r"Cs\[0\] must be a finite number > 0, got Cs\[0\]=0.0"):
        fit_probe(X, y, Cs=[0.0])
    with pytest.raises(ValueError, match="only y="):
        fit_probe(X, np.zeros(50, np.int8))


# ------------------------------------------------------------------------------ run_probe

D = 8
CATS = {
    "train": ["Normal", "Abuse", "Normal", "Arson", "Normal", "Abuse"],
    "val": ["Normal", "Abuse", "Arson"],
    "test": ["Normal", "Abuse", "Normal", "Arson"],
}


def _write_store(tmp_path, *, test_videos=None, val_failed=False):
    """An index CSV, an annotation file and a store of every split (ucf_nb.synthetic's builder)."""
    from ucf_nb.demo.synthetic import write_synthetic_store

    rng = np.random.default_rng(0)
    recs, ann_lines = [], []
    for split, cats in CATS.items():
        for v, cat in enumerate(cats):
            if split == "test" and test_videos is not None and v >= test_videos:
                break
            name = f"{cat}{split}{v:03d}_x264.mp4"
            n_frames = 32 + 16 * 9 + 7  # 10 clips, 7 uncovered tail frames
            event = (40, 120) if cat != "Normal" else None
            for k in range(10):
                s, e = 16 * k, 16 * k + 32
                frac = (
                    np.nan
                    if split != "test"
                    else (0.0 if event is None else max(0, min(e, event[1] + 1) - max(s, event[0])) / 32)
                )
                recs.append(
                    dict(
                        split=split,
                        y=int(cat != "Normal"),
                        category=cat,
                        path=f"videos/{name}",
                        clip_idx=k,
                        start_frame=s,
                        end_frame=e,
                        clip_len=32,
                        stride=16,
                        fps=30.0,
                        n_frames=n_frames,
                        video=name,
                        anomaly_frac=frac,
                    )
                )
        if split == "test":
            for v, cat in enumerate(cats):  # the annotation names every test video, extracted or not
                event = (40, 120) if cat != "Normal" else (-1, -1)
                ann_lines.append(f"{cat}{split}{v:03d}_x264.mp4  {cat}  {event[0]}  {event[1]}  -1  -1")
    df = pd.DataFrame(recs)

    def embed(split, sub):
        # signal: anomalous clips inside the event shift the first dims
        frac = sub["anomaly_frac"].fillna(sub["y"]).to_numpy()
        emb = rng.standard_normal((len(sub), D)).astype(np.float32)
        emb[:, :2] += 2.0 * frac[:, None]
        n_real = np.full(len(sub), 8)
        if split == "test":
            n_real[3] = 0  # a failed clip
        if split == "val" and val_failed:
            n_real[:] = 0  # every val clip failed
        return [emb], n_real

    out, _, ann_path = write_synthetic_store(
        tmp_path,
        df,
        embed,
        embedding_dim=D,
        annotation_lines=ann_lines,
        index_name="index.csv",
        settings={"img_size": 64, "T": 8},
    )
    return out, ann_path, df


def test_run_probe_through_the_store_writes_metrics_and_scores(tmp_path):
    out, ann, df = _write_store(tmp_path)
    res = run_probe(out, annotation_path=ann, seed=0)
    m = json.loads((out / "probe" / "metrics.json").read_text())
    assert m == res.metrics
    for k in (
        "clip_auc_val",
        "clip_auc_test",
        "clip_ap_val",
        "clip_ap_test",
        "video_auc_test",
        "video_auc_test_mean",
        "frame_auc_test",
        "frame_auc_test_anomalous",
    ):
        assert isinstance(m[k], float) and 0 <= m[k] <= 1, k
    assert m["missing_reasons"] == {}
    assert set(m["per_category_auc_test"]) == {"Abuse", "Arson"}
    assert m["counts"]["test"]["n_failed"] == 1 and m["settings"]["mode"] == "full" and m["seed"] == 0
    assert m["head"] == "linear" and m["frame_auc_test_field"] is not None
    lo, hi = m["frame_auc_test_field_ci95"]
    assert lo <= m["frame_auc_test_field"] <= hi and 0 <= m["frame_far_test_field"] <= 1

    scores = pd.read_csv(out / "probe" / "scores_test.csv")
    assert list(scores.columns) == ["row", "video", "clip_idx", "y", "score"]
    test_rows = df.index[df["split"] == "test"].to_numpy()
    assert scores["row"].tolist() == test_rows.tolist()
    assert scores["score"].isna().sum() == 1 and np.isnan(scores["score"].iloc[3])
    # the written scores recompute the written metrics
    sc = df.loc[scores["row"]].assign(score=scores["score"].to_numpy())
    assert clip_metrics(sc["y"], sc["score"])["auc"] == pytest.approx(m["clip_auc_test"])
    from ucf_nb.index.annotations import read_temporal_annotation

    assert frame_level_auc(sc, read_temporal_annotation(ann)) == pytest.approx(m["frame_auc_test"])

    again = run_probe(out, annotation_path=ann, seed=0, refit=True)
    strip = lambda d: {k: v for k, v in d.items() if k != "timing"}  # noqa: E731
    assert strip(again.metrics) == strip(res.metrics)
    assert pd.read_csv(out / "probe" / "scores_test.csv").equals(scores)


def test_run_probe_mil_head_writes_the_same_keys_beside_the_linear_probe(tmp_path):
    from ucf_nb.evaluate.field import frame_metrics
    from ucf_nb.index.annotations import read_temporal_annotation

    out, ann, df = _write_store(tmp_path)
    lin = run_probe(out, annotation_path=ann, seed=0, n_boot=50)
    kw = dict(max_iter=60, eval_every=20, patience=2, hidden=(16, 8))
    mil = run_probe(out, annotation_path=ann, seed=0, head="mil", mil_params=kw, n_boot=50)
    m = json.loads((out / "probe-mil" / "metrics.json").read_text())
    assert m == mil.metrics and m["head"] == "mil"
    assert set(m) == set(lin.metrics)  # the comparison page reads both
    from ucf_nb import compare_heads

    table = compare_heads({"linear": lin.metrics, "mil": m})
    assert list(table.columns) == ["linear", "mil"] and table.index[0] == "frame AUC, field protocol"
    assert table.loc["frame AUC, field protocol", "mil"] == round(m["frame_auc_test_field"], 4)
    lo, hi = m["frame_auc_test_field_ci95"]
    assert table["mil"].iloc[1] == f"[{lo:.4f}, {hi:.4f}]"
    assert (out / "probe" / "metrics.json").exists()  # the linear probe's results stay
    assert m["missing_reasons"] == {}
    s = m["settings"]
    assert s["fitted_on"] == "train + val" and s["n_refit_videos"] == 9 and s["val_source"] == "given"
    assert s["n_train_videos"] == 6 and s["n_val_videos"] == 3
    # the written test scores are the refit head's clip scores and recompute the field AUC
    scores = pd.read_csv(out / "probe-mil" / "scores_test.csv")
    assert scores["score"].isna().sum() == 1 and np.isnan(scores["score"].iloc[3])
    sc = df.loc[scores["row"]].assign(score=scores["score"].to_numpy())
    fm = frame_metrics(sc, read_temporal_annotation(ann), convention="field", n_boot=50)
    assert fm["auc"] == pytest.approx(m["frame_auc_test_field"]) and fm["ci95"] == m["frame_auc_test_field_ci95"]
    from ucf_nb.store import load_embeddings

    X, _, rows = load_embeddings(out, "test")
    first = (rows["video"] == rows["video"].iloc[0]).to_numpy()
    np.testing.assert_allclose(mil.probe.score_clips(X[first]), scores["score"].to_numpy()[first])
    # val scored by the train-only head
    X, _, rows = load_embeddings(out, "val")
    v0 = (rows["video"] == rows["video"].iloc[0]).to_numpy()
    np.testing.assert_allclose(
        mil.probe.selected.score_clips(X[v0]), pd.read_csv(out / "probe-mil" / "scores_val.csv")["score"].to_numpy()[v0]
    )
    # seeded
    again = run_probe(out, annotation_path=ann, seed=0, head="mil", mil_params=kw, n_boot=50, refit=True)
    strip = lambda d: {k: v for k, v in d.items() if k != "timing"}  # noqa: E731
    assert strip(again.metrics) == strip(m)
    with pytest.raises(ValueError, match="head must be one of"):
        run_probe(out, head="svm")


def test_run_probe_says_why_frame_metrics_are_missing(tmp_path):
    out, ann, _ = _write_store(tmp_path, test_videos=2)  # test extracted for 2 of 4 videos only
    res = run_probe(out, annotation_path=ann)
    assert res.metrics["frame_auc_test"] is None
    assert "2 of the 4 annotated videos are not in the test split" in res.missing_reasons["frame_auc_test"]
    assert "frame_auc_test" in res.missing_note()
    res = run_probe(out)
    assert "no temporal annotation" in res.missing_reasons["frame_auc_test"]


def test_run_probe_needs_the_train_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="02_extract"):
        run_probe(tmp_path / "nothing")


# ------------------------------------------------------------------------------ figures, notebook


def test_probe_figures_draw_the_result(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ucf_nb.report import plots

    out, ann, _ = _write_store(tmp_path)
    res = run_probe(out, annotation_path=ann)
    fig = plots.plot_roc_curves(res.scores)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3  # val, test, chance
    assert tuple(lines[0].get_xydata()[-1]) == (1.0, 1.0)
    assert f"AUC {res.metrics['clip_auc_val']:.3f}" in fig.axes[0].get_legend().get_texts()[0].get_text()
    fig = plots.plot_per_category_auc(res.metrics)
    assert len(fig.axes[0].patches) == 4  # 2 categories x (val, test)
    fig = plots.plot_score_timelines(res.scores["test"], res.intervals, n_anomalous=2, n_normal=1)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles == ["Abusetest001_x264.mp4", "Arsontest003_x264.mp4", "Normaltest000_x264.mp4"]
    assert len(fig.axes[0].patches) == 1 and len(fig.axes[2].patches) == 0  # shaded events
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == 32 + 16 * 9 + 7  # one point per frame
    plots.plot_pr_curves(res.scores)
    plt.close("all")


@pytest.mark.slow
def test_notebook_03_runs_on_a_tiny_store(tmp_path):
    import nbformat
    import papermill as pm

    from ucf_nb.paths import project_root

    out, ann, _ = _write_store(tmp_path)
    src = project_root() / "notebooks" / "03_probe.ipynb"
    nb = nbformat.read(src, 4)
    assert [c.metadata.get("tags") for c in nb.cells].count(["parameters"]) == 1
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    done = tmp_path / "03.ipynb"
    short = {"max_iter": 40, "eval_every": 20, "patience": 1, "hidden": [16, 8]}
    pm.execute_notebook(
        str(src),
        str(done),
        parameters=dict(out_dir=str(out), mil_params=short),
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    text = done.read_text()
    assert (out / "probe" / "metrics.json").exists()
    assert "no temporal annotation was given" in text  # the missing frame AUC, explained
    pm.execute_notebook(
        str(src),
        str(done),
        parameters=dict(out_dir=str(out), annotation_path=str(ann), mil_params=short),
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    text = done.read_text()
    assert "**linear**: every metric was computed." in text and "**mil**: every metric was computed." in text
    assert (out / "probe-mil" / "metrics.json").exists()
    assert json.loads((out / "probe" / "metrics.json").read_text())["frame_auc_test"] is not None


def test_run_probe_does_not_refit_a_head_whose_inputs_and_settings_are_unchanged(tmp_path, monkeypatch, capsys):
    import os

    import ucf_nb.evaluate.probe as probe_mod

    out, ann, _ = _write_store(tmp_path)
    kw = dict(max_iter=40, eval_every=20, patience=2, hidden=(16, 8))
    first = {
        "linear": run_probe(out, annotation_path=ann, n_boot=50),
        "mil": run_probe(out, annotation_path=ann, n_boot=50, head="mil", mil_params=kw),
    }
    assert not any(r.reused for r in first.values())
    assert first["linear"].metrics["fingerprint"]["settings"]["head"] == "linear"
    written = {h: (out / d / "metrics.json").stat().st_mtime_ns for h, d in (("linear", "probe"), ("mil", "probe-mil"))}
    fits = []
    for name in ("linear", "mil"):  # count the fits of each registered head
        spec = probe_mod.get_head(name)
        monkeypatch.setattr(spec, "fit", lambda *a, _n=name, _fit=spec.fit, **k: fits.append(_n) or _fit(*a, **k))
    capsys.readouterr()

    # the same call again (as notebook 03 makes it on a second `report run`): nothing is fitted
    lin = run_probe(out, annotation_path=ann, n_boot=50)
    mil = run_probe(out, annotation_path=ann, n_boot=50, head="mil", mil_params=kw)
    assert fits == [] and lin.reused and mil.reused and lin.probe is None
    assert "linear head: embeddings, annotation and settings unchanged" in capsys.readouterr().out
    for head, res in (("linear", lin), ("mil", mil)):
        assert res.metrics == first[head].metrics  # timing included: read back, not recomputed
        assert set(res.scores) == {"val", "test"}
        pd.testing.assert_frame_equal(res.scores["test"], first[head].scores["test"])
    assert {
        h: (out / d / "metrics.json").stat().st_mtime_ns for h, d in (("linear", "probe"), ("mil", "probe-mil"))
    } == written

    # a changed setting refits that head only
    run_probe(out, annotation_path=ann, n_boot=50, Cs=(0.01, 1.0))
    assert fits == ["linear"]
    run_probe(out, annotation_path=ann, n_boot=50, head="mil", mil_params={**kw, "max_iter": 20})
    assert fits == ["linear", "mil"]
    # refit=True fits whatever the fingerprint says
    run_probe(out, annotation_path=ann, n_boot=50, Cs=(0.01, 1.0), refit=True)
    assert fits == ["linear", "mil", "linear"]
    # changed inputs: a rewritten embedding array, then an edited annotation
    emb = out / json.loads((out / "manifest.json").read_text())["splits"]["val"]["files"]["emb"]
    st = emb.stat()
    os.utime(emb, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = run_probe(out, annotation_path=ann, n_boot=50, Cs=(0.01, 1.0))
    assert fits[-1] == "linear" and len(fits) == 4 and not again.reused
    ann.write_text(ann.read_text() + "\n")
    run_probe(out, annotation_path=ann, n_boot=50, Cs=(0.01, 1.0))
    assert len(fits) == 5
    # a metrics.json whose scores file is gone is not trusted
    (out / "probe" / "scores_val.csv").unlink()
    run_probe(out, annotation_path=ann, n_boot=50, Cs=(0.01, 1.0))
    assert len(fits) == 6
