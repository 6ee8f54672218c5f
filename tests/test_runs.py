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

from ucf_nb import compare_runs, literature_note, per_category_table, ranked_table, roc_points, run_dir
from ucf_nb.encoders.tiny import make_tiny_encoder
from ucf_nb.evaluate.runs import RANKED_COLUMNS, encoder_defaults, find_runs, read_run, run_name, run_settings


def _manifest(checkpoint, model_type, dim, T, seconds=(10.0, 5.0)):
    splits = {
        s: {"complete": True, "n_done": 100, "seconds": sec, "shards": [{"device": "cpu"}]}
        for s, sec in zip(("train", "test"), seconds)
    }
    return {
        "model": {"checkpoint": checkpoint, "revision": None, "model_type": model_type},
        "T": T,
        "img_size": 224,
        "embedding_dim": dim,
        "pooling": "mean",
        "precision": "fp32",
        "index": {"path": "x.csv", "sha256": "ab" * 32},
        "preprocessing": {
            "preset": "checkpoint",
            "resize": "shortest_edge",
            "size": 256,
            "crop_size": 224,
            "interpolation": "linear",
            "rescale_factor": 1 / 127.5,
            "offset": True,
            "mean": [0.5] * 3,
            "std": [0.5] * 3,
        },
        "splits": splits,
    }


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
    _write_run(
        root,
        "vivit_T32_cls",
        _manifest("google/vivit-b-16x2-kinetics400", "vivit", 768, 32),
        {
            "linear": {
                "clip_auc_test": 0.70,
                "video_auc_test": 0.8,
                "frame_auc_test": 0.66,
                "per_category_auc_test": {"Arson": 0.9, "Abuse": None},
            }
        },
    )
    _write_run(
        root,
        "clip_T8_mean",
        _manifest("openai/clip-vit-base-patch16", "clip", 512, 8, seconds=(2.0, 2.0)),
        {
            "linear": {
                "clip_auc_test": 0.60,
                "video_auc_test": 0.7,
                "frame_auc_test": 0.81,
                "per_category_auc_test": {"Arson": 0.5, "Abuse": 0.75},
            },
            "mil": {
                "clip_auc_test": 0.65,
                "frame_auc_test": 0.84,
                "frame_auc_test_field": 0.83,
                "frame_auc_test_field_ci95": [0.79, 0.87],
                "frame_far_test_field": 0.02,
            },
        },
    )
    _write_run(
        root, "unprobed_T16_mean", _manifest("MCG-NJU/videomae-base-finetuned-kinetics", "videomae", 768, 16), {}
    )
    (root / "not_a_run").mkdir()
    return root


def test_run_name_from_checkpoint_T_and_pooling():
    assert (
        run_name("facebook/timesformer-base-finetuned-k400", T=8, pooling="cls")
        == "timesformer-base-finetuned-k400_T8_cls"
    )
    assert run_name("demo/encoders/clip/", T=16, pooling="mean") == "clip_T16_mean"
    assert run_dir("x/y", T=4, pooling="mean", root="build/r") == "build/r/y_T4_mean"
    assert run_dir("x/y", name="mine", root="build/r") == "build/r/mine"
    with pytest.raises(ValueError, match="T must be an int >= 1, got T=0"):
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
    assert list(zip(table["run"], table["head"])) == [
        ("clip_T8_mean", "mil"),
        ("clip_T8_mean", "linear"),
        ("vivit_T32_cls", "linear"),
        ("unprobed_T16_mean", "(no probe)"),
    ]
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
        pd.DataFrame({"row": np.arange(100), "video": "v", "clip_idx": 0, "y": y, "score": score}).to_csv(
            runs_root / "clip_T8_mean" / sub / "scores_test.csv", index=False
        )
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


# --- the ranked table and the comparison figures (04_compare) --------------------------------


def test_compare_runs_reads_the_views_a_run_embedded(runs_root):
    # runs made before views existed embedded the centre crop; ten-crop runs say so in the
    # manifest, at its top level or under "settings"
    for name, where in (("clip_T8_mean", "top"), ("vivit_T32_cls", "settings")):
        path = runs_root / name / "manifest.json"
        m = json.loads(path.read_text())
        if where == "top":
            m["views"] = "ten_crop"
        else:
            m["settings"] = {"views": "ten_crop"}
        path.write_text(json.dumps(m))
    table = compare_runs(root=runs_root)
    assert dict(zip(table["run"], table["views"])) == {
        "clip_T8_mean": "ten_crop",
        "vivit_T32_cls": "ten_crop",
        "unprobed_T16_mean": "center",
    }
    assert list(table.columns[:7]) == ["run", "head", "family", "checkpoint", "embedding_dim", "T", "views"]
    assert run_settings(root=runs_root).set_index("run")["views"].to_dict() == {
        "clip_T8_mean": "ten_crop",
        "unprobed_T16_mean": "center",
        "vivit_T32_cls": "ten_crop",
    }


def test_ranked_table_one_row_per_run_and_head_with_the_headline_ci_and_speed(runs_root):
    table = compare_runs(root=runs_root)
    ranked = ranked_table(table)
    frame = ranked.frame
    assert ranked.headline == "frame_auc_test_field" and list(frame.columns) == list(RANKED_COLUMNS)
    assert list(zip(frame["run"], frame["head"])) == list(zip(table["run"], table["head"]))
    # only rows with the headline are ranked; the interval and false alarms travel with it
    assert frame["rank"].tolist()[:1] == [1.0] and frame["rank"].isna().tolist() == [False, True, True, True]
    first = frame.iloc[0]
    assert (first["auc"], first["ci_low"], first["ci_high"], first["far"]) == (0.83, 0.79, 0.87, 0.02)
    assert (first["family"], first["T"], first["views"], first["clips_per_s"]) == ("clip", 8, "center", 50.0)
    text = str(ranked)
    assert text.splitlines()[0].split() == [
        "#",
        "run",
        "family",
        "T",
        "views",
        "head",
        "AUC",
        "95%",
        "CI",
        "false",
        "alarms",
        "clips/s",
    ]
    assert "0.830  0.790\u20130.870" in text and len(text.splitlines()) == 1 + len(frame) + 2
    # the text a notebook stores beside the HTML names the best row and holds no measured speed
    assert repr(ranked) == (
        "<RankedTable (headline): 4 rows, 3 runs, best first by frame_auc_test_field: "
        "clip_T8_mean (mil) 0.830 [0.790, 0.870]>"
    )
    html = ranked._repr_html_()
    assert html.startswith('<table class="ucf-ranking">') and html.count("<tr>") == 1 + len(frame)
    assert "<code>clip_<wbr>T8_<wbr>mean</code>" in html  # a run name may wrap after - and _
    assert '<td class="num measured">50.0</td>' in html and html.count("measured") == len(frame)
    metrics = ranked_table(table, view="metrics")
    assert list(metrics.frame.columns) == [
        "rank",
        "run",
        "head",
        "clip_auc_test",
        "video_auc_test",
        "frame_auc_test",
        "frame_auc_test_field",
        "frame_auc_test_anomalous",
    ]
    assert metrics.frame.loc[2, "frame_auc_test"] == 0.66 and "measured" not in metrics._repr_html_()
    with pytest.raises(ValueError, match="view must be one of 'headline', 'metrics', got view='wide'"):
        ranked_table(table, view="wide")
    with pytest.raises(TypeError, match="ranked_table takes the table of ucf_nb.compare_runs"):
        ranked_table(table.to_dict())


def _many_runs(root, n):
    """``n`` runs of six families, two heads each, with bootstrap intervals and per-category AUCs."""
    families = [
        ("timesformer", "facebook/timesformer-base-finetuned-k400"),
        ("videomae", "MCG-NJU/videomae-base"),
        ("vivit", "google/vivit-b-16x2-kinetics400"),
        ("vjepa2", "facebook/vjepa2-vitl-fpc16-256-ssv2"),
        ("xclip", "microsoft/xclip-base-patch32"),
        ("clip", "openai/clip-vit-base-patch16"),
    ]
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60, int), np.ones(60, int)]
    cats = [
        "Abuse",
        "Arrest",
        "Arson",
        "Assault",
        "Burglary",
        "Explosion",
        "Fighting",
        "RoadAccidents",
        "Robbery",
        "Shooting",
        "Shoplifting",
        "Stealing",
        "Vandalism",
    ]
    for k in range(n):
        family, checkpoint = families[k % len(families)]
        T = (8, 16)[k // len(families) % 2]
        name = run_name(checkpoint, T=T, pooling="mean")
        heads = {}
        for head in ("linear", "mil"):
            auc = float(rng.uniform(0.55, 0.9))
            heads[head] = {
                "frame_auc_test_field": auc,
                "frame_auc_test_field_ci95": [auc - 0.06, auc + 0.05],
                "frame_far_test_field": 0.1,
                "clip_auc_test": auc,
                "per_category_auc_test": {c: float(rng.uniform(0.3, 1)) for c in cats},
            }
        folder = _write_run(root, name, _manifest(checkpoint, family, 768, T), heads)
        for sub in ("probe", "probe-mil"):
            pd.DataFrame({"row": np.arange(len(y)), "y": y, "score": y + rng.normal(0, 1, len(y))}).to_csv(
                folder / sub / "scores_test.csv", index=False
            )
    return root


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


def _drawn_ticklabels(ax) -> list:
    """The tick labels matplotlib draws: visible, with text, at a tick inside the view limits."""
    out = []
    for labels, ticks, (lo, hi) in (
        (ax.get_xticklabels(), ax.get_xticks(), sorted(ax.get_xlim())),
        (ax.get_yticklabels(), ax.get_yticks(), sorted(ax.get_ylim())),
    ):
        out += [t for t, at in zip(labels, ticks) if t.get_text() and t.get_visible() and lo <= at <= hi]
    return out


#: the widest image the book's text column shows unscaled at a 1280-pixel window (what
#: tests/test_browser.py measures on the comparison page)
BOOK_IMAGE_WIDTH_PX = 664


def _png_width_px(fig) -> int:
    """The width of the PNG a notebook shows: the inline backend's bbox_inches="tight" at 100 dpi."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return Image.open(buf).size[0]


def _figures_checked(root, n_runs):
    """Draw the three comparison figures of ``n_runs`` runs, check their layout; their heights."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ucf_nb.report import plots

    _many_runs(root, n_runs)
    table = compare_runs(root=root)
    figures = {
        "forest": plots.plot_headline_forest(table),
        "roc": plots.plot_compare_roc(roc_points(root=root)),
        "heatmap": plots.plot_category_heatmap(per_category_table(root=root)),
    }
    try:
        for name, fig in figures.items():
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            # no wider than the book's column: shown at its own size, its 7-point text stays legible
            assert _png_width_px(fig) <= BOOK_IMAGE_WIDTH_PX, (name, n_runs)
            panels = [ax for ax in fig.axes if ax.axison]
            texts = [t for t in [fig._suptitle] if t is not None]
            for ax in panels:
                labels = _drawn_ticklabels(ax)
                boxes = [t.get_window_extent(renderer) for t in labels]
                for i in range(len(boxes)):
                    for j in range(i + 1, len(boxes)):
                        assert not _overlaps(boxes[i], boxes[j]), (
                            f"{name}: tick labels {labels[i].get_text()!r} and {labels[j].get_text()!r} overlap"
                        )
                texts += [t for t in (ax.title, ax.xaxis.label, ax.yaxis.label) if t.get_text()] + labels
            # every legend sits outside every panel, clear of every title, axis and tick label
            legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
            for legend in legends:
                box = legend.get_window_extent(renderer)
                for ax in panels:
                    assert not _overlaps(box, ax.get_window_extent(renderer)), (name, ax.get_title())
                for text in texts:
                    assert not _overlaps(box, text.get_window_extent(renderer)), (name, text.get_text())
        forest = figures["forest"].axes[0]
        assert [t.get_text() for t in forest.get_yticklabels()] == [
            f"{r} ({h})" for r, h in zip(table["run"], table["head"])
        ]
        heat = figures["heatmap"].axes[0]
        assert [t.get_text() for t in heat.get_yticklabels()] == sorted(table["run"].unique())
        roc_panels = [ax for ax in figures["roc"].axes if ax.axison]
        assert sorted(ax.get_title() for ax in roc_panels) == sorted(set(table["family"]))
        assert sum(len(ax.get_lines()) - 1 for ax in roc_panels) == 2 * n_runs  # and the chance line each
        assert sum(len(ax.get_legend().get_texts()) for ax in figures["roc"].axes if ax.get_legend()) == 2 * n_runs
        return {name: fig.get_size_inches()[1] for name, fig in figures.items()}
    finally:
        for fig in figures.values():
            plt.close(fig)


def test_comparison_figures_fit_the_column_and_grow_with_the_runs(tmp_path):
    three = _figures_checked(tmp_path / "three", 3)
    twelve = _figures_checked(tmp_path / "twelve", 12)
    for name in ("forest", "heatmap"):  # a row per run (and head): taller, never squeezed
        assert twelve[name] > three[name] + 1.5, name
    assert twelve["roc"] > three["roc"]  # six family panels instead of three
