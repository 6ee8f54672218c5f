"""ucf_nb.index: build, read, validate and remap the clip index on small real fixture trees."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from ucf_nb import (
    IndexBuildError,
    IndexValidationError,
    build_index,
    read_index,
    read_temporal_annotation,
    remap_video_root,
    validate_index,
)
from ucf_nb.demo.synthetic import synthetic_frame, write_synthetic_video
from ucf_nb.index.build import INDEX_COLUMNS
from ucf_nb.index.validate import IndexReport

L, S = 8, 4  # clip_len, stride used with the fixture tree (short videos)

# dataset-relative path -> number of frames; the official "Part" layout
VIDEOS = {
    "Anomaly-Videos-Part-1/Abuse/Abuse001_x264.mp4": 24,
    "Anomaly-Videos-Part-1/Abuse/Abuse002_x264.mp4": 20,
    "Anomaly-Videos-Part-1/Abuse/Abuse028_x264.mp4": 30,
    "Anomaly-Videos-Part-2/Arrest/Arrest001_x264.mp4": 28,
    "Anomaly-Videos-Part-2/Arrest/Arrest002_x264.mp4": 22,
    "Anomaly-Videos-Part-2/Arrest/Arrest003_x264.mp4": 26,
    "Training-Normal-Videos-Part-1/Normal_Videos001_x264.mp4": 20,
    "Training-Normal-Videos-Part-1/Normal_Videos002_x264.mp4": 25,
    "Training-Normal-Videos-Part-2/Normal_Videos004_x264.mp4": 21,
    "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4": 23,
}
TRAIN_LIST = [
    "Abuse/Abuse001_x264.mp4",
    "Abuse/Abuse002_x264.mp4",
    "Arrest/Arrest002_x264.mp4",
    "Arrest/Arrest003_x264.mp4",
    "Training_Normal_Videos_Anomaly/Normal_Videos001_x264.mp4",
    "Training_Normal_Videos_Anomaly/Normal_Videos002_x264.mp4",
    "Training_Normal_Videos_Anomaly/Normal_Videos004_x264.mp4",
]
# the release's own spacing: two blanks between fields and two trailing blanks
ANNOTATION = [
    "Abuse028_x264.mp4  Abuse  5  12  -1  -1  ",
    "Arrest001_x264.mp4  Arrest  3  6  15  20  ",
    "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1  ",
]
EVENTS = {
    "Abuse028_x264.mp4": [(5, 13)],
    "Arrest001_x264.mp4": [(3, 7), (15, 21)],
    "Normal_Videos_003_x264.mp4": [],
}  # half-open, from the inclusive file numbers


def write_lists(root: Path, train=TRAIN_LIST, annotation=ANNOTATION) -> None:
    (root / "Anomaly_Train.txt").write_text("\n".join(train) + "\n")
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text("\n".join(annotation) + "\n")


@pytest.fixture(scope="session")
def pristine_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine") / "UCF_Crime"
    for i, (rel, n) in enumerate(VIDEOS.items()):
        name = Path(rel).name
        write_synthetic_video(root / rel, n, width=64, height=48, seed=i, events=EVENTS.get(name, ()))
    write_lists(root)
    return root


@pytest.fixture
def tree(pristine_tree, tmp_path) -> Path:
    """A fresh copy of the fixture dataset, free to damage."""
    root = tmp_path / "UCF_Crime"
    shutil.copytree(pristine_tree, root)
    return root


def n_clips(n: int) -> int:
    return 0 if n < L else (n - L) // S + 1


def build(root, **kw):
    kw.setdefault("clip_len", L)
    kw.setdefault("stride", S)
    kw.setdefault("probe_threads", 2)
    return build_index(root, **kw)


def write_zero_frame_video(path: Path) -> None:
    """A real container with a video stream and no frames (MJPEG AVI, renamed)."""
    tmp = path.with_suffix(".avi")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), 30, (64, 48))
    writer.release()
    tmp.rename(path)


# ---------------------------------------------------------------------------- annotation


def test_read_temporal_annotation_release_format(tmp_path):
    path = tmp_path / "ann.txt"
    # CRLF line ends, a blank line, tabs, the release's trailing blanks
    path.write_bytes(
        b"Arson011_x264.mp4  Arson  150  420  680  1267  \r\n\r\n"
        b"Abuse028_x264.mp4\tAbuse\t165\t240\t-1\t-1\r\n"
        b"Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1  \r\n"
    )
    ann = read_temporal_annotation(path)
    assert list(ann) == ["Arson011_x264.mp4", "Abuse028_x264.mp4", "Normal_Videos_003_x264.mp4"]
    assert ann["Arson011_x264.mp4"].intervals == ((150, 421), (680, 1268))
    assert ann["Abuse028_x264.mp4"].category == "Abuse"
    assert ann["Normal_Videos_003_x264.mp4"].intervals == ()
    assert ann["Normal_Videos_003_x264.mp4"].label == 0 and ann["Abuse028_x264.mp4"].label == 1
    labels = ann["Abuse028_x264.mp4"].frame_labels(300)
    assert labels.dtype == np.int8 and labels.shape == (300,)
    assert labels[165] == 1 and labels[240] == 1 and labels[164] == 0 and labels[241] == 0
    assert labels.sum() == 240 - 165 + 1


def test_read_temporal_annotation_reports_every_bad_line(tmp_path):
    path = tmp_path / "ann.txt"
    path.write_text(
        "Abuse028_x264.mp4  Abuse  165  abc  -1  -1\n"
        "Arson011_x264.mp4  Arson  150  420  680\n"
        "Burglary005_x264.mp4  Burglary  300  200  -1  -1\n"
        "Assault006_x264.mp4  Fighting  1  2  -1  -1\n"
        "Normal_Videos_003_x264.mp4  Normal  5  9  -1  -1\n"
        "Shooting002_x264.mp4  Shooting  10  20  -1  -1\n"
        "Shooting002_x264.mp4  Shooting  10  20  -1  -1\n"
    )
    with pytest.raises(ValueError) as err:
        read_temporal_annotation(path)
    msg = str(err.value)
    assert "6 line(s)" in msg
    for lineno in (1, 2, 3, 4, 5, 7):
        assert f"line {lineno}:" in msg


# ---------------------------------------------------------------------------- build


def test_build_follows_the_index_contract(tree, tmp_path):
    out = tmp_path / "processed" / "index_clips.csv"
    df = build(tree, index_path=out, val_fraction=0.5, seed=3)
    assert list(df.columns) == list(INDEX_COLUMNS) + ["video", "anomaly_frac"]
    assert out.is_file() and not (tmp_path / "processed" / "index_clips.skipped.csv").exists()
    pd.testing.assert_frame_equal(read_index(out), df, check_dtype=False)
    assert isinstance(df.index, pd.RangeIndex)

    # rows: ordered by split (train, val, test), video, clip_idx
    order = df["split"].map({"train": 0, "val": 1, "test": 2})
    key = pd.DataFrame({"s": order, "v": df["video"], "k": df["clip_idx"]})
    assert key.equals(key.sort_values(["s", "v", "k"]).reset_index(drop=True))

    # every video of both lists, with its real frame count and fps, full windows only
    by_video = df.groupby("video")
    expected = {Path(rel).name: n for rel, n in VIDEOS.items()}
    assert by_video.size().to_dict() == {v: n_clips(n) for v, n in expected.items()}
    assert by_video["n_frames"].first().to_dict() == expected
    assert (df["fps"] == 30).all() and (df["clip_len"] == L).all() and (df["stride"] == S).all()
    assert (df["start_frame"] == df["clip_idx"] * S).all()
    assert (df["end_frame"] == df["start_frame"] + L).all()
    assert (df["end_frame"] <= df["n_frames"]).all()
    for path in df["path"].unique():
        rel = Path(path).relative_to(tree).as_posix()
        assert rel in VIDEOS

    # splits: test = the annotation; train + val = the training list; whole videos only
    splits = by_video["split"].agg(set)
    assert all(len(s) == 1 for s in splits)
    split = splits.map(lambda s: next(iter(s)))
    assert set(split[split == "test"].index) == {a.split()[0] for a in ANNOTATION}
    assert set(split[split != "test"].index) == {t.split("/")[1] for t in TRAIN_LIST}
    cats = by_video["category"].first()
    for cat in ("Abuse", "Arrest", "Normal"):
        in_cat = split[(cats == cat) & (split != "test")]
        assert (in_cat == "val").sum() >= 1 and (in_cat == "train").sum() >= 1

    # labels: video level
    assert (df["y"] == (df["category"] != "Normal").astype(int)).all()
    assert set(df.loc[df["category"] == "Normal", "video"]) == {
        "Normal_Videos001_x264.mp4",
        "Normal_Videos002_x264.mp4",
        "Normal_Videos004_x264.mp4",
        "Normal_Videos_003_x264.mp4",
    }


def test_anomaly_fraction_and_temporal_labels(tree):
    df = build(tree, label_mode="temporal", anomaly_threshold=0.5)
    test = df[df["split"] == "test"]
    for row in test.itertuples():
        inside = set()
        for s, e in EVENTS[row.video]:
            inside |= set(range(s, e))
        frac = len(inside & set(range(row.start_frame, row.end_frame))) / L
        assert row.anomaly_frac == pytest.approx(frac)
        assert row.y == int(frac >= 0.5)
    assert test["y"].nunique() == 2  # the threshold made both labels
    assert df.loc[df["split"] != "test", "anomaly_frac"].isna().all()
    video = build(tree, label_mode="video")
    assert np.allclose(video["anomaly_frac"], df["anomaly_frac"], equal_nan=True)
    assert (video.loc[video["category"] != "Normal", "y"] == 1).all()
    validate_index(df)  # temporal labels pass the label check


def test_val_split_is_seeded_and_whole_videos(tree):
    def val_videos(seed, frac=0.4):
        df = build(tree, val_fraction=frac, seed=seed)
        return set(df.loc[df["split"] == "val", "video"])

    assert val_videos(0) == val_videos(0)
    # round(0.4 * n) per category, at least 1: one each of Abuse (2), Arrest (2), Normal (3)
    assert len(val_videos(0)) == 3
    assert len(val_videos(0, frac=0.6)) == 4  # Normal: round(1.8) = 2, still 1 left in train
    draws = {frozenset(val_videos(s)) for s in range(6)}
    assert len(draws) > 1
    assert val_videos(0, frac=0.0) == set()


def test_a_skipped_video_moves_no_other_video_between_train_and_val(tree, tmp_path):
    """Issue 20: leaving one training video out (on_missing='skip') must not redraw val: every
    other video keeps its split, whichever video is missing and whatever the seed."""

    def splits(root, seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the skip warning
            df = build(root, val_fraction=0.4, seed=seed, on_missing="skip")
        return dict(zip(df["video"], df["split"]))

    train_files = [rel for rel in VIDEOS if Path(rel).name in {Path(t).name for t in TRAIN_LIST}]
    for seed in range(3):
        full = splits(tree, seed)
        for rel in train_files:
            root = tmp_path / f"s{seed}-{Path(rel).stem}"
            shutil.copytree(tree, root)
            (root / rel).unlink()
            got = splits(root, seed)
            name = Path(rel).name
            assert name not in got
            assert got == {v: s for v, s in full.items() if v != name}, (seed, name)


def test_relative_root_gives_relative_paths(tree, monkeypatch):
    monkeypatch.setenv("UCF_NB_ROOT", str(tree.parent))
    df = build("UCF_Crime", index_path="processed/index.csv")
    assert all(p.startswith("UCF_Crime/") for p in df["path"])
    assert (tree.parent / "processed" / "index.csv").is_file()
    assert validate_index(read_index("processed/index.csv")).ok


def test_lists_found_anywhere_under_root_and_merged_layout(tree, tmp_path):
    # the merged layout: Videos/<Category>/..., lists in a splits folder
    merged = tmp_path / "UCF_Crimes"
    for rel in VIDEOS:
        name = Path(rel).name
        folder = (
            "Training_Normal_Videos_Anomaly"
            if name.startswith("Normal_Videos0")
            else "Testing_Normal_Videos_Anomaly"
            if name.startswith("Normal_Videos_")
            else Path(rel).parent.name
        )
        dst = merged / "Videos" / folder / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tree / rel, dst)
    splits = merged / "Anomaly_Detection_splits"
    splits.mkdir()
    write_lists(splits)
    a = build(tree, seed=1)
    b = build(merged, seed=1)
    cols = [c for c in a.columns if c != "path"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_anomaly_test_list_is_accepted(tree):
    test_list = tree / "Anomaly_Test.txt"
    test_list.write_text(
        "Abuse/Abuse028_x264.mp4\nArrest/Arrest001_x264.mp4\nTesting_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4\n"
    )
    df = build(tree, annotation_path=test_list)
    test = df[df["split"] == "test"]
    assert set(test["video"]) == set(EVENTS) and test["anomaly_frac"].isna().all()
    with pytest.raises(ValueError, match="label_mode='temporal' needs frame intervals"):
        build(tree, annotation_path=test_list, label_mode="temporal")


def write_lying_avi(path: Path, n_frames: int, claim: int) -> Path:
    """An MPEG-4 AVI of ``n_frames`` frames (written by PyAV, under ``path``'s name whatever
    its extension) whose headers (``avih`` dwTotalFrames, ``strh`` dwLength) say ``claim``."""
    import struct

    tmp = path.with_name(path.stem + ".tmp.avi")
    write_synthetic_video(tmp, n_frames, width=64, height=48, codec="mpeg4", gop=12, bframes=0)
    data = bytearray(tmp.read_bytes())
    tmp.unlink()
    avih, strh = data.find(b"avih"), data.find(b"strh")
    assert avih > 0 and strh > 0 and data[strh + 8 : strh + 12] == b"vids"
    assert struct.unpack_from("<I", data, avih + 8 + 16)[0] == n_frames
    struct.pack_into("<I", data, avih + 8 + 16, claim)  # MainAVIHeader.dwTotalFrames
    struct.pack_into("<I", data, strh + 8 + 32, claim)  # AVIStreamHeader.dwLength
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("claim", [60, 150])
def test_an_avi_whose_header_lies_is_indexed_with_the_frames_that_decode(tree, tmp_path, claim):
    """Issue 20: an AVI (named .mp4, as UCF-Crime's files are) whose header says 60 frames
    where 96 decode was indexed as 60 (36 frames dropped); one that says 150 promised clips
    that do not exist. The index uses the 96 that decode, the build goes on, and the header
    is named in a warning, in <index>.frame_counts.csv and in notebook 01's report."""
    import cv2 as _cv2

    from ucf_nb import count_video_frames, frame_count_report
    from ucf_nb.index.framecount import frame_counts_path

    path = write_lying_avi(tree / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse001_x264.mp4", 96, claim)
    cap = _cv2.VideoCapture(str(path))
    assert int(cap.get(_cv2.CAP_PROP_FRAME_COUNT)) == claim  # what the container says
    cap.release()
    got = count_video_frames(path)
    assert (got.n_frames, got.header, got.container, got.method) == (96, claim, "avi", "decoded")
    assert got.header_disagrees
    index = tmp_path / "index_clips.csv"
    with pytest.warns(UserWarning, match=rf"Abuse001_x264.mp4: the container says {claim}, 96 decode"):
        df = build(tree, index_path=index)
    abuse = df[df["video"] == "Abuse001_x264.mp4"]
    assert set(abuse["n_frames"]) == {96} and len(abuse) == n_clips(96)
    assert abuse["end_frame"].max() <= 96
    assert validate_index(read_index(index)).ok
    counts = pd.read_csv(frame_counts_path(index))
    assert len(counts) == df["video"].nunique()
    row = counts.set_index("video").loc["Abuse001_x264.mp4"]
    assert (row["header_frames"], row["n_frames"], row["container"], row["method"]) == (claim, 96, "avi", "decoded")
    others = counts[counts["video"] != "Abuse001_x264.mp4"]
    assert (others["method"] == "packets").all() and (others["header_frames"] == others["n_frames"]).all()
    report = frame_count_report(index)
    assert report and report.disagreeing.to_dict("records") == [
        {
            "video": "Abuse001_x264.mp4",
            "container": "avi",
            "header_frames": claim,
            "n_frames": 96,
            "difference": 96 - claim,
        }
    ]
    assert "1 of 10 videos" in report._repr_html_() and "admonition warning" in report._repr_html_()


@pytest.mark.slow
def test_notebook_01_shows_the_video_whose_header_lies(tree, tmp_path):
    papermill = pytest.importorskip("papermill")
    write_lying_avi(tree / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse001_x264.mp4", 96, 60)
    index = tmp_path / "index_clips.csv"
    with pytest.warns(UserWarning, match="the container says 60"):
        build(tree, index_path=index)
    out = tmp_path / "01.ipynb"
    papermill.execute_notebook(
        str(REPO / "notebooks" / "01_index_checks.ipynb"),
        str(out),
        parameters={"index_path": str(index)},
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    import nbformat

    cell = next(c for c in nbformat.read(out, as_version=4).cells if c.get("id") == "nb01-frames")
    html = cell.outputs[0]["data"]["text/html"]
    assert "Warning: container frame counts that lie" in html and "Abuse001_x264.mp4" in html
    assert "<td>60</td>" in html and "<td>96</td>" in html


def test_frame_count_report_says_when_all_agree_or_when_there_is_none(tree, tmp_path):
    from ucf_nb import frame_count_report

    index = tmp_path / "index_clips.csv"
    build(tree, index_path=index)
    report = frame_count_report(index)
    assert not report and str(report).startswith("All 10 videos' containers state the number of frames")
    assert "10 counted from their packets, 0 by decoding" in str(report)
    assert "rebuild it with notebooks/00_build_index.ipynb" in str(frame_count_report(tmp_path / "other.csv"))


def test_count_frames_decodes_when_the_container_is_wrong(tree):
    # A truncated MJPEG AVI: its header still promises 60 frames, fewer can be decoded.
    av = pytest.importorskip("av")
    path = tree / "Anomaly-Videos-Part-1" / "Abuse" / "Abuse001_x264.mp4"
    tmp = path.with_suffix(".avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), 30, (64, 48))
    for k in range(60):
        writer.write(synthetic_frame(k, 64, 48)[:, :, ::-1].copy())
    writer.release()
    data = tmp.read_bytes()
    tmp.unlink()
    path.write_bytes(data[: len(data) // 2])
    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert 0 < decoded < 60

    def frames_of(df):
        return int(df.loc[df["video"] == "Abuse001_x264.mp4", "n_frames"].iloc[0])

    with pytest.warns(UserWarning, match="the container says 60"):
        assert frames_of(build(tree)) == decoded  # header and packets disagree: decoded to count
    with pytest.warns(UserWarning, match="the container says 60"):
        assert frames_of(build(tree, count_frames=True)) == decoded


def test_every_bad_input_is_reported_together(tree, tmp_path):
    part1 = tree / "Anomaly-Videos-Part-1" / "Abuse"
    (part1 / "Abuse002_x264.mp4").unlink()  # missing
    (tree / "Anomaly-Videos-Part-2" / "Arrest" / "Arrest002_x264.mp4").write_bytes(b"x" * 999)
    write_zero_frame_video(tree / "Training-Normal-Videos-Part-1" / "Normal_Videos002_x264.mp4")
    dup = tree / "Extra" / "Arrest003_x264.mp4"  # duplicate name
    dup.parent.mkdir()
    shutil.copy(tree / "Anomaly-Videos-Part-2" / "Arrest" / "Arrest003_x264.mp4", dup)
    write_synthetic_video(part1 / "Abuse001_x264.mp4", 5, width=64, height=48)  # too short
    write_lists(
        tree,
        train=TRAIN_LIST
        + [
            "Abuse/Abuse028_x264.mp4",  # in both lists
            "Training_Normal_Videos_Anomaly/Normal_Videos004_x264.mp4",
            "Abuse/not a video",
        ],
        annotation=ANNOTATION[:2] + ["Normal_Videos_003_x264.mp4  Normal  -1  x  -1  -1"],
    )
    expected = {
        "Abuse002_x264.mp4": "missing",
        "Arrest002_x264.mp4": "unreadable",
        "Normal_Videos002_x264.mp4": "zero_frames",
        "Arrest003_x264.mp4": "duplicate_name",
        "Abuse001_x264.mp4": "too_short",
        "Abuse028_x264.mp4": "in_both_lists",
        "Normal_Videos004_x264.mp4": "duplicate_line",
        "Abuse/not a video": "bad_line",
        "Normal_Videos_003_x264.mp4": "bad_line",
    }
    out = tmp_path / "idx" / "index.csv"
    with pytest.raises(IndexBuildError) as err:
        build(tree, index_path=out)
    problems = err.value.problems
    assert dict(zip(problems["file"], problems["kind"])) == expected
    msg = str(err.value)
    assert f"{len(expected)} problem(s)" in msg and "on_missing='skip'" in msg
    for name in expected:
        assert name in msg
    assert "missing: 1" in msg and "bad_line: 2" in msg
    assert not out.exists()

    with pytest.warns(UserWarning, match="skipped"):
        df = build(tree, index_path=out, on_missing="skip")
    skipped = pd.read_csv(out.with_name("index.skipped.csv"))
    assert list(skipped.columns) == ["file", "reason", "kind", "source"]
    assert dict(zip(skipped["file"], skipped["kind"])) == expected
    assert skipped["reason"].str.len().min() > 10
    # the index holds exactly the good videos (Abuse028 and Normal004 kept once)
    assert set(df["video"]) == {
        "Abuse028_x264.mp4",
        "Arrest001_x264.mp4",
        "Normal_Videos001_x264.mp4",
        "Normal_Videos004_x264.mp4",
    }
    assert set(df.loc[df["video"] == "Abuse028_x264.mp4", "split"]) == {"test"}
    assert validate_index(read_index(out)).ok


def test_bad_arguments_name_the_value(tree):
    with pytest.raises(ValueError, match="val_fraction=1.5"):
        build(tree, val_fraction=1.5)
    with pytest.raises(ValueError, match="on_missing"):
        build(tree, on_missing="ignore")
    with pytest.raises(ValueError, match="clip_len=0"):
        build(tree, clip_len=0)
    with pytest.raises(FileNotFoundError, match="dataset_root"):
        build(tree / "nope")
    (tree / "Anomaly_Train.txt").unlink()
    with pytest.raises(FileNotFoundError, match="Anomaly_Train.txt not found"):
        build(tree)


# ---------------------------------------------------------------------------- validate


@pytest.fixture
def good_index(tree):
    return build(tree, val_fraction=0.5)


def test_a_built_index_validates(good_index):
    report = validate_index(good_index)
    assert isinstance(report, IndexReport) and report.ok
    table = report.to_frame()
    assert (table["status"] == "ok").all() and len(table) == 13
    assert "all checks passed" in str(report) and "<table" in report._repr_html_()


def _break(df, how):
    df = df.copy()
    if how == "end_within_video":
        df.loc[3, "n_frames"] = df.loc[3, "end_frame"] - 1
    elif how == "start_before_end":
        df.loc[[2, 5], "end_frame"] = df.loc[[2, 5], "start_frame"]
    elif how == "clip_length":
        df.loc[4, "clip_len"] = L + 1
    elif how == "clip_grid":
        df.loc[4, ["start_frame", "end_frame"]] = df.loc[4, ["start_frame", "end_frame"]] + 1
    elif how == "label_values":
        df.loc[6, "y"] = 2
    elif how == "label_category":
        df.loc[df["category"] == "Normal", "y"] = 1
    elif how == "nans":
        df["fps"] = df["fps"].astype(float)
        df.loc[7, "fps"] = np.nan
    elif how == "dtypes":
        df["clip_idx"] = df["clip_idx"].astype(object)
        df.loc[8, "clip_idx"] = "eight"
    elif how == "duplicate_clips":
        df = pd.concat([df, df.iloc[[1]]], ignore_index=True)
    elif how == "split_leak":
        video = df["video"].iloc[0]
        df.loc[df.index[df["video"] == video][-1], "split"] = "val"
    elif how == "missing_files":
        df.loc[df["video"] == df["video"].iloc[0], "path"] = "nowhere/Abuse999_x264.mp4"
    elif how == "split_values":
        df.loc[9, "split"] = "training"
    return df


CHECKS = [
    "end_within_video",
    "start_before_end",
    "clip_length",
    "clip_grid",
    "label_values",
    "label_category",
    "nans",
    "dtypes",
    "duplicate_clips",
    "split_leak",
    "missing_files",
    "split_values",
]


@pytest.mark.parametrize("check", CHECKS)
def test_each_check_catches_its_error(good_index, check):
    bad = _break(good_index, check)
    report = validate_index(bad, strict=False)
    assert not report.ok
    failed = report[check]
    assert failed.n_failed > 0 and failed.first_rows
    # the offending rows named are really the damaged ones
    changed = bad.index[~bad.reindex(good_index.index).eq(good_index).all(axis=1).reindex(bad.index, fill_value=False)]
    assert set(failed.first_rows) & set(changed), (check, failed.first_rows, list(changed))
    with pytest.raises(IndexValidationError) as err:
        validate_index(bad)
    assert check in str(err.value) and str(failed.first_rows[0]) in str(err.value)
    assert err.value.report[check].n_failed == failed.n_failed


def test_missing_columns_are_one_clear_failure(good_index):
    report = validate_index(good_index.drop(columns=["fps", "n_frames"]), strict=False)
    assert not report["columns"].ok and "fps, n_frames" in report["columns"].detail
    with pytest.raises(IndexValidationError, match="columns failed"):
        validate_index(good_index.drop(columns=["fps"]))


def test_validate_reads_a_path_and_skips_files_on_request(good_index, tmp_path):
    good_index.to_csv(tmp_path / "i.csv", index=False)
    assert validate_index(tmp_path / "i.csv").ok
    moved = good_index.assign(path="elsewhere/" + good_index["video"])
    assert validate_index(moved, check_files=False).ok
    assert validate_index(moved, strict=False)["missing_files"].n_failed == len(moved)


def test_validate_handles_150k_rows(tmp_path):
    # 1,900 videos of 77 clips each, as large as the real index; one file check per video
    n_videos, per = 1900, 77
    names = [f"Abuse{i:04d}_x264.mp4" if i % 2 else f"Normal_Videos{i:04d}_x264.mp4" for i in range(n_videos)]
    for name in names[:5]:
        (tmp_path / name).touch()
    k = np.tile(np.arange(per), n_videos)
    video = np.repeat(names, per)
    normal = np.char.startswith(video.astype(str), "Normal")
    df = pd.DataFrame(
        {
            "split": np.repeat(np.array(["train", "val", "test", "train"] * 475), per),
            "y": (~normal).astype(int),
            "category": np.where(normal, "Normal", "Abuse"),
            "path": np.char.add(str(tmp_path) + "/", video.astype(str)),
            "clip_idx": k,
            "start_frame": k * 16,
            "end_frame": k * 16 + 32,
            "clip_len": 32,
            "stride": 16,
            "fps": 30.0,
            "n_frames": 16 * per + 16,
            "video": video,
        }
    )
    assert len(df) > 145_000
    report = validate_index(df, strict=False)
    assert [c.name for c in report.failed] == ["missing_files"]
    assert report["missing_files"].n_failed == (n_videos - 5) * per


# ---------------------------------------------------------------------------- read / remap


def test_read_index_names_the_notebook_when_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebooks/00_build_index.ipynb first"):
        read_index(tmp_path / "nope.csv")


def test_round_trip_build_validate_remap(tree, tmp_path):
    out = tmp_path / "index.csv"
    df = build(tree, index_path=out)
    assert validate_index(df).ok
    # as written on another machine: absolute foreign paths, one of them from Windows
    foreign = read_index(out)
    rel = foreign["path"].map(lambda p: Path(p).relative_to(tree).as_posix())
    foreign["path"] = "/home/someone/UCF_Crime/" + rel
    win = foreign["video"] == "Abuse001_x264.mp4"
    foreign.loc[win, "path"] = "D:\\data\\UCF_Crime\\" + rel[win].str.replace("/", "\\")
    foreign.to_csv(tmp_path / "foreign.csv", index=False)
    assert validate_index(read_index(tmp_path / "foreign.csv"), strict=False)["missing_files"].n_failed == len(df)
    back = read_index(tmp_path / "foreign.csv", video_root=tree)
    assert validate_index(back).ok
    pd.testing.assert_frame_equal(back, read_index(out))


def test_remap_falls_back_to_the_file_name(tree):
    df = pd.DataFrame({"path": ["/old/flat/Abuse028_x264.mp4", "/old/Anomaly-Videos-Part-9/Abuse/Abuse001_x264.mp4"]})
    out = remap_video_root(df, tree)
    assert out["path"].tolist() == [
        (tree / "Anomaly-Videos-Part-1/Abuse/Abuse028_x264.mp4").as_posix(),
        (tree / "Anomaly-Videos-Part-1/Abuse/Abuse001_x264.mp4").as_posix(),
    ]
    assert df["path"].iloc[0] == "/old/flat/Abuse028_x264.mp4"  # input left alone


def test_remap_that_cannot_place_a_video_fails_with_examples(tree):
    df = pd.DataFrame(
        {
            "path": [
                "/old/flat/Ghost001_x264.mp4",
                "/old/flat/Ghost002_x264.mp4",
                "/old/Anomaly-Videos-Part-1/Abuse/Abuse001_x264.mp4",
            ]
        }
    )
    with pytest.raises(ValueError, match=r"cannot remap 2 video path\(s\).*Ghost001"):
        remap_video_root(df, tree)
    with pytest.raises(FileNotFoundError, match="video_root"):
        remap_video_root(df, tree / "absent")


# ---------------------------------------------------------------------------- figures


def test_index_figures_draw_the_counts(good_index):
    import matplotlib.pyplot as plt

    from ucf_nb.report import plots

    fig = plots.plot_clips_per_split(good_index)
    heights = sum(p.get_height() for p in fig.axes[0].patches)
    assert heights == len(good_index)
    fig2 = plots.plot_clips_per_category(good_index)
    assert sum(p.get_width() for p in fig2.axes[0].patches) == len(good_index)
    fig3 = plots.plot_video_lengths(good_index)
    # one filled panel per split, in split order, each counting that split's videos
    videos = good_index.drop_duplicates("path")
    splits = [s for s in ("train", "val", "test") if s in set(videos["split"])]
    assert len(fig3.axes) == len(splits)
    for ax, split in zip(fig3.axes, splits):
        assert sum(p.get_height() for p in ax.patches) == (videos["split"] == split).sum()
        assert ax.texts[0].get_text().startswith(f"{split}: ")
    # legends sit outside the axes: no bar is under them
    for f in (fig, fig2):
        f.canvas.draw()
        legend = f.axes[0].get_legend().get_window_extent()
        assert legend.x0 >= f.axes[0].get_window_extent().x1
    for f in (fig, fig2, fig3):
        plt.close(f)


def test_old_parameter_names_work_with_a_future_warning(tree):
    ann = tree / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    reference = build(tree, annotation_path=ann, probe_threads=0)
    with pytest.warns(FutureWarning, match=r"annotation_file= is renamed annotation_path="):
        old = build_index(tree, annotation_file=ann, clip_len=L, stride=S, probe_threads=0)
    pd.testing.assert_frame_equal(old, reference)
    with pytest.warns(FutureWarning, match=r"num_workers= is renamed probe_threads="):
        build_index(tree, clip_len=L, stride=S, num_workers=0)
    # both names: the new one wins, and the warning says the old one was ignored
    with pytest.warns(FutureWarning, match=r"both were given; using annotation_path="):
        both = build_index(
            tree, annotation_path=ann, annotation_file=tree / "absent.txt", clip_len=L, stride=S, probe_threads=0
        )
    pd.testing.assert_frame_equal(both, reference)
    with (
        pytest.raises(ValueError, match=r"probe_threads must be an int >= 0, got probe_threads=-1"),
        pytest.warns(FutureWarning, match="num_workers= is renamed"),
    ):
        build_index(tree, clip_len=L, stride=S, num_workers=-1)


def test_no_warning_on_a_clean_build(tree):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build(tree)


# ---------------------------------------------------------------------------- notebooks

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = {
    "00_build_index.ipynb": {
        "dataset_root": "data/UCF_Crime",
        "split_file": None,
        "annotation_path": None,
        "index_path": "processed/index_clips.csv",
        "clip_len": 32,
        "stride": 16,
        "val_fraction": 0.15,
        "seed": 0,
        "label_mode": "video",
        "count_frames": False,
        "on_missing": "raise",
        "probe_threads": 8,
        "annotation_file": None,
        "num_workers": None,
    },
    "01_index_checks.ipynb": {"index_path": "processed/index_clips.csv", "video_root": None},
}


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_source_follows_the_rules(name):
    import ast

    import nbformat

    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"] == {"name": "python3", "display_name": "Python 3", "language": "python"}
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    values = {
        t.id: ast.literal_eval(v)
        for stmt in ast.parse(tagged[0].source).body
        for t, v in [(stmt.targets[0], stmt.value)]
    }
    assert values == NOTEBOOKS[name]
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
def test_notebooks_run_with_papermill_from_another_folder(pristine_tree, tmp_path):
    papermill = pytest.importorskip("papermill")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    index = tmp_path / "out" / "index_clips.csv"
    papermill.execute_notebook(
        str(REPO / "notebooks" / "00_build_index.ipynb"),
        str(tmp_path / "00.ipynb"),
        parameters={
            "dataset_root": str(pristine_tree),
            "index_path": str(index),
            "clip_len": L,
            "stride": S,
            "probe_threads": 2,
        },
        cwd=str(cwd),
        kernel_name="python3",
        progress_bar=False,
    )
    assert validate_index(read_index(index)).ok
    # an index written on another machine, checked with video_root
    foreign = read_index(index)
    foreign["path"] = "/home/someone/UCF_Crime/" + foreign["path"].map(
        lambda p: Path(p).relative_to(pristine_tree).as_posix()
    )
    foreign.to_csv(tmp_path / "foreign.csv", index=False)
    out = tmp_path / "01.ipynb"
    papermill.execute_notebook(
        str(REPO / "notebooks" / "01_index_checks.ipynb"),
        str(out),
        parameters={"index_path": str(tmp_path / "foreign.csv"), "video_root": str(pristine_tree)},
        cwd=str(cwd),
        kernel_name="python3",
        progress_bar=False,
    )
    text = out.read_text()
    assert "index ok" in text and text.count("image/png") == 3
    with pytest.raises(papermill.PapermillExecutionError, match="run notebooks/00_build_index.ipynb first"):
        papermill.execute_notebook(
            str(REPO / "notebooks" / "01_index_checks.ipynb"),
            str(tmp_path / "01b.ipynb"),
            parameters={"index_path": str(tmp_path / "absent.csv")},
            cwd=str(cwd),
            kernel_name="python3",
            progress_bar=False,
        )
