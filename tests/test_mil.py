"""The MIL ranking head: segments, losses by hand, learning from video labels only."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from ucf_nb.evaluate.mil import fit_mil, mil_objective, mil_ranking_loss, segment_bag, smoothness_loss, sparsity_loss


def test_segment_bag_averages_clips_and_repeats_clips_of_short_videos():
    bag = np.arange(64 * 2, dtype=np.float32).reshape(64, 2)
    seg = segment_bag(bag, 32)
    assert seg.shape == (32, 2) and seg.dtype == np.float32
    np.testing.assert_allclose(seg[0], bag[0:2].mean(0))
    np.testing.assert_allclose(seg[31], bag[62:64].mean(0))
    # 3 clips into 4 segments: edges round(linspace(0, 3, 5)) = 0, 1, 2, 2, 3
    short = np.array([[1.0], [2.0], [4.0]])
    np.testing.assert_array_equal(segment_bag(short, 4)[:, 0], [1, 2, 4, 4])
    # 5 clips into 2 segments: edges 0, 2 (round half to even of 2.5), 5
    np.testing.assert_allclose(segment_bag(np.arange(5.0)[:, None], 2)[:, 0], [0.5, 3.0])
    with pytest.raises(ValueError, match="non-empty 2-D"):
        segment_bag(np.zeros((0, 3)))


def test_losses_against_hand_computations():
    sa = torch.tensor([[0.1, 0.9, 0.4], [0.3, 0.2, 0.0]])
    sn = torch.tensor([[0.5, 0.4, 0.1], [0.0, 0.2, 0.1]])
    # maxima: anomalous .9 and .3, normal .5 and .2; hinge 1 - a + n over the four pairs:
    # .6, .3, 1.2, .9 -> mean .75
    assert float(mil_ranking_loss(sa, sn)) == pytest.approx(0.75)
    # margin .2: -.2 -> 0, -.5 -> 0, .4, .1 -> mean .125
    assert float(mil_ranking_loss(sa, sn, margin=0.2)) == pytest.approx(0.125)
    # smoothness: (.8^2 + .5^2) = .89 and (.1^2 + .2^2) = .05 -> mean .47
    assert float(smoothness_loss(sa)) == pytest.approx(0.47)
    # sparsity: 1.4 and .5 -> mean .95
    assert float(sparsity_loss(sa)) == pytest.approx(0.95)
    total = mil_objective(sa, sn, lambda_smooth=0.1, lambda_sparse=0.01)
    assert float(total) == pytest.approx(0.75 + 0.1 * 0.47 + 0.01 * 0.95)
    # numpy in, same numbers; gradients flow to the anomalous bag's best segment
    assert float(mil_ranking_loss(sa.numpy(), sn.numpy())) == pytest.approx(0.75)
    x = sa.clone().requires_grad_(True)
    mil_ranking_loss(x, sn).backward()
    assert x.grad[0, 1] < 0 and x.grad[0, 0] == 0
    with pytest.raises(ValueError, match="2-D"):
        mil_ranking_loss(torch.zeros(3), sn)


def _synthetic(n_videos, rng, D=16, direction=None):
    """Anomalous videos: 3-6 consecutive anomalous clips (a shift along `direction`) among
    normal ones; only video labels are returned with the bags, clip truth separately."""
    bags, labels, truth = [], [], []
    for v in range(n_videos):
        n = int(rng.integers(40, 90))
        X = rng.normal(size=(n, D)).astype(np.float32) + 5.0  # an offset the head must ignore
        t = np.zeros(n, bool)
        if v % 2:
            k = int(rng.integers(3, 7))
            a = int(rng.integers(0, n - k))
            t[a : a + k] = True
            X[t] += 2.5 * direction
        bags.append(X)
        labels.append(int(v % 2))
        truth.append(t)
    return bags, np.array(labels), truth


def test_mil_head_ranks_anomalous_clips_above_the_rest_from_video_labels_only():
    rng = np.random.default_rng(0)
    direction = rng.normal(size=16).astype(np.float32)
    direction /= np.linalg.norm(direction)
    tr, ytr, _ = _synthetic(80, rng, direction=direction)
    va, yva, _ = _synthetic(30, rng, direction=direction)
    te, _, truth = _synthetic(40, rng, direction=direction)
    head = fit_mil(
        tr, ytr, val_bags=va, val_labels=yva, max_iter=300, eval_every=50, patience=3, hidden=(64, 16), seed=1
    )
    scores = np.concatenate([head.score_clips(b) for b in te])
    clip_truth = np.concatenate(truth)
    assert roc_auc_score(clip_truth, scores) > 0.9
    # anomalous clips above the normal clips of their own videos too
    inside = np.concatenate([np.full(len(t), i % 2 == 1) for i, t in enumerate(truth)])
    assert roc_auc_score(clip_truth[inside], scores[inside]) > 0.9
    s = head.settings
    assert s["refit"] and s["fitted_on"] == "train + val" and s["n_refit_videos"] == 110
    assert 50 <= s["best_iter"] <= 300 and s["val_curve"][0]["iter"] == 50
    assert head.selected is not None and head.selected.settings["fitted_on"] == "train"


def test_fit_mil_is_seeded():
    rng = np.random.default_rng(0)
    direction = np.eye(8, dtype=np.float32)[0]
    bags, y, _ = _synthetic(20, rng, D=8, direction=direction)
    kw = dict(max_iter=30, eval_every=10, hidden=(16, 8), seed=1, val_bags=bags[:6], val_labels=y[:6])
    head, again = fit_mil(bags, y, **kw), fit_mil(bags, y, **kw)
    for k, w in head.weights.items():
        np.testing.assert_array_equal(w, again.weights[k])
    other = fit_mil(bags, y, **{**kw, "seed": 2})
    assert not np.array_equal(other.weights["W1"], head.weights["W1"])


def test_fit_mil_holds_out_videos_without_val_and_scores_nan_for_failed_clips():
    rng = np.random.default_rng(4)
    direction = np.eye(8, dtype=np.float32)[0]
    bags, y, _ = _synthetic(20, rng, D=8, direction=direction)
    bags[0] = bags[0].copy()
    bags[0][3] = np.nan
    head = fit_mil(bags, y, max_iter=40, eval_every=20, hidden=(16, 8), refit=False)
    assert head.settings["val_source"] == "held out" and head.settings["n_val_videos"] == 4
    assert head.selected is None and head.settings["fitted_on"] == "train"
    s = head.score_clips(bags[0])
    assert np.isnan(s[3]) and np.isfinite(np.delete(s, 3)).all() and ((s[:3] > 0) & (s[:3] < 1)).all()
    assert head.score_segments(bags[0]).shape == (32,)


def test_fit_mil_names_bad_input():
    bags = [np.zeros((5, 4)), np.ones((6, 4))]
    with pytest.raises(ValueError, match="2 bags but 3 labels"):
        fit_mil(bags, [0, 1, 1])
    with pytest.raises(ValueError, match="only label"):
        fit_mil(bags, [1, 1])
    with pytest.raises(ValueError, match="must be 0 \\(normal\\) or 1"):
        fit_mil(bags, [0, 2])
    with pytest.raises(ValueError, match="bag 1 of bags has 3 features"):
        fit_mil([np.zeros((5, 4)), np.ones((6, 3))], [0, 1])
    with pytest.raises(TypeError, match="list of per-video"):
        fit_mil(np.zeros((5, 4)), [0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="val_bags and val_labels together"):
        fit_mil(bags, [0, 1], val_bags=bags)
    head = fit_mil(bags, [0, 1], max_iter=2, eval_every=1, hidden=(4, 2), val_bags=bags, val_labels=[0, 1])
    with pytest.raises(ValueError, match="\\(n_clips, 4\\) for this head"):
        head.score_clips(np.zeros((3, 5)))


def test_an_early_stop_ends_the_bar_full_and_says_why(capsys, monkeypatch):
    monkeypatch.setenv("UCF_NB_PROGRESS", "text")
    rng = np.random.default_rng(3)
    direction = np.eye(8, dtype=np.float32)[0]
    bags, y, _ = _synthetic(20, rng, D=8, direction=direction)
    # val labels that no head can rank well: the val AUC stops improving and training stops early
    head = fit_mil(
        bags,
        y,
        val_bags=bags[:8],
        val_labels=[0, 0, 0, 0, 1, 1, 1, 1],
        max_iter=400,
        eval_every=5,
        patience=2,
        hidden=(8, 4),
        seed=0,
        progress=True,
        refit=False,
    )
    stopped = head.settings["val_curve"][-1]["iter"]
    assert stopped < 400
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"{stopped}/{stopped}" in last and "100%" in last
    assert "stopped early: best val AUC" in last and f"at iteration {head.settings['best_iter']}" in last
