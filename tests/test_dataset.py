"""ucf_nb.dataset: the seek-per-frame reference and the per-video clip stream agree, frame for
frame, on real files, including files that lie."""

from __future__ import annotations

import sys
import warnings

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from ucf_nb import ClipDataset, Preprocessing, VideoClipStream, VideoError, clip_windows, uniform_sample_indices
from ucf_nb.demo.synthetic import read_frame_number, write_synthetic_video
from ucf_nb.video import probe_video
from ucf_nb.video.dataset import collate_clips


# ------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def offset_video(tmp_path_factory):
    """H.264, timestamps starting at 7, B-frames, keyframe every 40 (seeks land mid-GOP)."""
    path = tmp_path_factory.mktemp("v") / "pts_offset.mp4"
    return write_synthetic_video(path, 130, codec="libx264", gop=40, bframes=2, pts_offset=7, seed=2)


def rows_for(path, n_frames, clip_len=32, stride=16, first_row=0, y=1):
    w = clip_windows(n_frames, clip_len, stride)
    df = pd.DataFrame({"path": str(path), "start_frame": w[:, 0], "end_frame": w[:, 1], "y": y})
    df.index = pd.RangeIndex(first_row, first_row + len(df))
    return df


def stream_items(stream):
    items = {}
    for it in stream:
        assert it["row"] not in items, "a row came out twice"
        items[it["row"]] = it
    return items


def reference(df, T=8, pre=None):
    ds = ClipDataset(df, T=T, preprocessing=pre)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {int(df.index[i]): ds.read_clip(i) for i in range(len(df))}


# ---------------------------------------------------------------------- ClipDataset
def test_clip_dataset_is_the_prototype_loader(h264_video):
    df = rows_for(h264_video, 200).iloc[[0, 5, 10]]
    ds = ClipDataset(df, T=8, img_size=224)
    assert len(ds) == 3
    for i in range(3):
        clip, y = ds[i]
        assert clip.shape == (3, 8, 224, 224) and clip.dtype == torch.float32
        assert y.dtype == torch.int64 and int(y) == 1
        # the prototype's steps, written out: seek + read each sampled frame, BGR->RGB,
        # squash to 224 bilinearly, /255, ImageNet mean/std, channels first
        start, end = int(df.start_frame.iloc[i]), int(df.end_frame.iloc[i])
        ids = start + np.linspace(0, end - start - 1, 8).round().astype(int)
        cap = cv2.VideoCapture(str(h264_video))
        frames = []
        for f in ids:
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(f))
            ok, fr = cap.read()
            assert ok
            fr = cv2.resize(cv2.cvtColor(fr, cv2.COLOR_BGR2RGB), (224, 224), interpolation=cv2.INTER_LINEAR)
            frames.append(fr)
        cap.release()
        arr = np.stack(frames).astype(np.float32) / 255.0
        arr = (arr - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
        assert torch.equal(clip, torch.from_numpy(np.ascontiguousarray(arr.transpose(3, 0, 1, 2))))
        assert [read_frame_number(f) for f in ds.read_clip(i)["frames"]] == ids.tolist()


def test_clip_dataset_raises_on_an_unopenable_video(garbage_video):
    ds = ClipDataset(rows_for(garbage_video, 64))
    with pytest.raises(VideoError, match="Garbage001_x264.mp4"):
        ds[0]


# -------------------------------------------------------------- stream: frame accuracy
@pytest.mark.parametrize(
    "fixture,segment_clips",
    [("h264_video", 256), ("h264_video", 2), ("mpeg4_video", 3), ("offset_video", 256), ("offset_video", 2)],
)
def test_stream_is_frame_accurate_and_equals_the_seek_reference(request, fixture, segment_clips):
    path = request.getfixturevalue(fixture)
    df = rows_for(path, probe_video(path).n_frames, first_row=1000)
    ref = reference(df)
    got = stream_items(VideoClipStream(df, T=8, segment_clips=segment_clips))
    assert sorted(got) == sorted(ref) == list(df.index)
    for r, it in got.items():
        assert it["frames"].shape == (8, 224, 224, 3) and it["frames"].dtype == np.uint8
        assert (it["n_real"], it["error"]) == (8, None)
        assert [read_frame_number(f) for f in it["frames"]] == ref[r]["frame_ids"].tolist()
        np.testing.assert_array_equal(it["frames"], ref[r]["frames"])


@pytest.mark.parametrize("segment_clips", [256, 1])
def test_a_video_with_timestamp_gaps_gives_the_frames_the_index_names(gappy_video, segment_clips):
    """Frame numbers count decoded frames even where the timestamps jump (dropped frames):
    both readers give clip k the frames it samples, and a segment that starts mid-video
    (segment_clips=1) does not land elsewhere."""
    df = rows_for(gappy_video, 150, first_row=0)
    ref = reference(df)
    got = stream_items(VideoClipStream(df, T=8, segment_clips=segment_clips))
    assert sorted(got) == list(df.index)
    for r, it in got.items():
        assert [read_frame_number(f) for f in it["frames"]] == ref[r]["frame_ids"].tolist()
        assert [read_frame_number(f) for f in ref[r]["frames"]] == ref[r]["frame_ids"].tolist()
        np.testing.assert_array_equal(it["frames"], ref[r]["frames"])


def frame_numbers_are_the_index(got, df, T=8):
    """Each item's frames are the ones its row samples (frame numbers drawn into the pixels)."""
    for r, it in got.items():
        start, end = int(df.loc[r, "start_frame"]), int(df.loc[r, "end_frame"])
        expected = (start + uniform_sample_indices(0, end - start, T)).tolist()
        assert [read_frame_number(f) for f in it["frames"]] == expected
        assert it["n_real"] == T and it["error"] is None


def test_a_long_video_whose_seeks_are_not_exact_is_one_pass_from_frame_0(gappy_video):
    """Its timestamps jump, so a segment starting mid-video would have to decode from frame 0:
    the plan makes the whole video one segment (linear, not one decode from 0 per segment),
    and every clip has the frames the index names."""
    df = rows_for(gappy_video, 150)
    assert len(df) > 4  # several segments of 2 clips, were it seek-exact
    stream = VideoClipStream(df, T=8, segment_clips=2)
    assert len(stream.segments) == 1 and stream.segments[0].seek is False
    assert stream.segments[0].rows.tolist() == list(df.index)
    got = stream_items(stream)
    assert sorted(got) == list(df.index)
    frame_numbers_are_the_index(got, df)
    # resuming mid-video (first pending clip past frame 0) reads from frame 0 too, rightly
    stream = VideoClipStream(df.iloc[3:], T=8)
    assert [s.seek for s in stream.segments] == [False]
    frame_numbers_are_the_index(stream_items(stream), df.iloc[3:])


def test_an_exact_video_is_split_into_seeking_segments_that_never_rescan_it(offset_video, monkeypatch):
    """Seek-exact (decided once, in the plan): several segments, each after the first starting
    with a verified seek; the decision travels on the segment, so a worker (fresh process,
    empty cache) reads no packet timestamps again."""
    import ucf_nb.video.dataset as dataset_mod
    import ucf_nb.video.decode as video_mod

    df = rows_for(offset_video, 130)
    stream = VideoClipStream(df, T=8, segment_clips=2)
    assert len(stream.segments) == -(-len(df) // 2) > 2
    assert all(s.seek for s in stream.segments)

    def no_scan(path):
        raise AssertionError(f"packet timestamps of {path} read again after the plan")

    video_mod._seek_is_exact_cached.cache_clear()
    monkeypatch.setattr(video_mod, "_packet_times", no_scan)
    states = []

    class Recorded(dataset_mod.DecodeState):
        def __init__(self):
            super().__init__()
            states.append(self)

    monkeypatch.setattr(dataset_mod, "DecodeState", Recorded)
    got = stream_items(stream)
    assert sorted(got) == list(df.index)
    frame_numbers_are_the_index(got, df)
    assert [s.seeked for s in states] == [False] + [True] * (len(stream.segments) - 1)


def test_without_pyav_long_videos_are_single_segments_with_one_warning(h264_video, gappy_video, monkeypatch):
    """No PyAV (the GPU image): no seek can be checked, so each video that would need one is a
    single pass from frame 0; right frames, and one warning for the whole plan."""
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` raises ImportError
    a, b = rows_for(h264_video, 200), rows_for(gappy_video, 150, first_row=100)
    df = pd.concat([a, b.iloc[2:]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's own filter: once per calling line
        stream = VideoClipStream(df, T=8, segment_clips=2)
        VideoClipStream(df, T=8, segment_clips=2)
    assert [str(w.message)[:24] for w in caught] == ["PyAV is not installed, s"]
    assert caught[0].category is RuntimeWarning
    assert [(s.path.name, s.seek, len(s.rows)) for s in stream.segments] == [
        (h264_video.name, False, len(a)),
        (gappy_video.name, False, len(b) - 2),
    ]
    got = stream_items(stream)
    assert sorted(got) == list(df.index)
    frame_numbers_are_the_index(got, df)


def test_stream_handles_any_subset_of_rows_and_odd_windows(offset_video):
    df = rows_for(offset_video, 130)
    df = pd.concat(
        [
            df.iloc[[6, 1, 2]],
            pd.DataFrame(
                {"path": str(offset_video), "start_frame": [5, 100, 3], "end_frame": [9, 130, 125], "y": 0},
                index=[50, 51, 52],
            ),
        ]
    )
    got = stream_items(VideoClipStream(df, T=8, segment_clips=2))
    ref = reference(df)
    assert sorted(got) == sorted(df.index)
    for r in got:
        np.testing.assert_array_equal(got[r]["frames"], ref[r]["frames"])
        assert [read_frame_number(f) for f in got[r]["frames"]] == ref[r]["frame_ids"].tolist()


def test_checkpoint_preprocessing_flows_through_both_paths(offset_video):
    pre = Preprocessing(
        resize="shortest_edge", size=64, crop_size=56, mean=(0.45,) * 3, std=(0.225,) * 3, preset="checkpoint"
    )
    df = rows_for(offset_video, 130).iloc[:3]
    got = stream_items(VideoClipStream(df, T=4, preprocessing=pre))
    ref = reference(df, T=4, pre=pre)
    for r in got:
        assert got[r]["frames"].shape == (4, 56, 56, 3)
        np.testing.assert_array_equal(got[r]["frames"], ref[r]["frames"])


# ------------------------------------------------------------- stream: many videos
def test_dataloader_workers_share_videos_and_every_row_comes_back(h264_video, mpeg4_video, offset_video):
    df = pd.concat(
        [rows_for(h264_video, 200), rows_for(mpeg4_video, 150), rows_for(offset_video, 130)], ignore_index=True
    )
    stream = VideoClipStream(df, T=8, preprocessing=Preprocessing.seed(64), segment_clips=4)
    # deterministic partition of segments over workers
    parts = [stream.worker_segments(i, 2) for i in range(2)]
    rows = np.concatenate([s.rows for p in parts for s in p])
    assert sorted(rows.tolist()) == list(range(len(df)))
    assert len(stream) == len(df)

    single = stream_items(stream)
    loader = DataLoader(stream, batch_size=5, num_workers=2, collate_fn=collate_clips)
    seen = {}
    for batch in loader:
        assert batch["frames"].dtype == torch.uint8 and batch["frames"].shape[1:] == (8, 64, 64, 3)
        assert batch["row"].dtype == torch.int64 and batch["n_real"].dtype == torch.int64
        for r, frames in zip(batch["row"].tolist(), batch["frames"]):
            assert r not in seen
            seen[r] = frames.numpy()
    assert sorted(seen) == list(range(len(df)))
    for r, frames in seen.items():
        np.testing.assert_array_equal(frames, single[r]["frames"])


def test_collate_then_normalize_gives_model_input(mpeg4_video):
    pre = Preprocessing.seed(32)
    items = list(VideoClipStream(rows_for(mpeg4_video, 150).iloc[:3], T=8, preprocessing=pre))
    batch = collate_clips(items)
    assert batch["frames"].shape == (3, 8, 32, 32, 3)
    assert batch["row"].tolist() == [it["row"] for it in items]
    assert batch["error"] == [None, None, None]
    x = pre.normalize(batch["frames"])
    assert x.shape == (3, 8, 3, 32, 32) and x.dtype == torch.float32
    with pytest.raises(ValueError, match="empty"):
        collate_clips([])


# --------------------------------------------------------------- files that lie
def test_index_claiming_more_frames_than_exist(h264_video):
    """A healthy 200-frame file indexed as if it had 260 frames."""
    df = rows_for(h264_video, 260)
    got = stream_items(VideoClipStream(df, T=8))
    ref = reference(df)
    for r, it in got.items():
        ids = ref[r]["frame_ids"]
        expect_real = int((ids < 200).sum())
        assert it["n_real"] == ref[r]["n_real"] == expect_real
        # past the end: the last real frame (199), never zeros
        assert [read_frame_number(f) for f in it["frames"]] == np.minimum(ids, 199).tolist()
        np.testing.assert_array_equal(it["frames"], ref[r]["frames"])
        assert (it["error"] is None) == (expect_real > 0) == (ref[r]["error"] is None)
    assert min(it["n_real"] for it in got.values()) == 0
    assert any(0 < it["n_real"] < 8 for it in got.values())


@pytest.mark.parametrize("segment_clips", [256, 2])
def test_truncated_file_whose_header_lists_every_frame(lying_video, segment_clips):
    claimed = probe_video(lying_video).n_frames
    real = probe_video(lying_video, count_frames=True).n_frames
    assert real < claimed
    df = rows_for(lying_video, claimed)
    got = stream_items(VideoClipStream(df, T=8, segment_clips=segment_clips))
    assert sorted(got) == list(df.index)
    ds = ClipDataset(df, T=8)
    for i, r in enumerate(df.index):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ref = ds.read_clip(i)
        ids = ref["frame_ids"]
        n_real = int((ids < real).sum())
        assert got[r]["n_real"] == ref["n_real"] == n_real
        assert (len(caught) > 0) == (n_real < 8)  # the reference says so, too
        assert [read_frame_number(f) for f in got[r]["frames"]] == np.minimum(ids, real - 1).tolist()
        np.testing.assert_array_equal(got[r]["frames"], ref["frames"])
        if n_real == 0:
            assert "lying.mp4" in got[r]["error"] and f"only {real} frames" in got[r]["error"]


def test_a_seek_exact_h264_video_is_read_by_the_skipping_reader_alone(offset_video, monkeypatch):
    """On a seek-exact H.264 file every sampled frame comes from the skipping reader (PyAV,
    unsampled non-reference frames skipped): OpenCV's reader is never needed, and the clips
    are the seek reference's."""
    import ucf_nb.video.decode as video_mod

    def no_opencv(*args, **kwargs):
        raise AssertionError("OpenCV's reader was used")
        yield

    df = rows_for(offset_video, 130)
    stream = VideoClipStream(df, T=8, segment_clips=3)
    assert all(s.numbering is not None for s in stream.segments)
    monkeypatch.setattr(video_mod, "_decode_opencv", no_opencv)
    got = stream_items(stream)
    monkeypatch.undo()
    ref = reference(df)
    assert sorted(got) == list(df.index)
    for r, it in got.items():
        np.testing.assert_array_equal(it["frames"], ref[r]["frames"])


def test_where_pyav_converts_differently_opencv_reads_everything(offset_video, monkeypatch):
    import ucf_nb.video.decode as video_mod

    df = rows_for(offset_video, 130)
    monkeypatch.setattr(video_mod, "_pyav_converts_like_opencv", lambda path, frame: False)
    got = stream_items(VideoClipStream(df, T=8, segment_clips=3))
    ref = reference(df)
    for r, it in got.items():
        np.testing.assert_array_equal(it["frames"], ref[r]["frames"])


@pytest.mark.parametrize("fixture", ["lying_video", "mpeg4_video", "h264_video"])
def test_decoding_in_the_consuming_process_redirects_no_file_descriptor_per_frame(request, fixture, monkeypatch, capfd):
    """Without DataLoader workers the stream decodes in the notebook's own process: FFmpeg's
    complaints about a damaged stream stay off the screen by log level, not by pointing file
    descriptor 2 elsewhere around each decoder call (which would swallow a progress bar's
    output and cost two system calls a frame). Only opening a file is captured (its
    complaints go into the error), and the log levels come back afterwards."""
    import os

    from ucf_nb.video.decode import _opencv_av_log

    path = request.getfixturevalue(fixture)
    df = rows_for(path, probe_video(path).n_frames)  # the lying video: clips past its real end
    stream = VideoClipStream(df, T=8, segment_clips=4)
    calls = []
    real_dup2 = os.dup2
    monkeypatch.setattr(os, "dup2", lambda *a: calls.append(a) or real_dup2(*a))
    get_level = _opencv_av_log()[0]
    level = get_level(), cv2.utils.logging.getLogLevel()
    n_items = 0
    for _ in stream:
        n_items += 1
        assert len(calls) <= 4 * (len(stream.segments) + 2), f"{len(calls)} redirects for {n_items} clips"
    assert n_items == len(df)
    assert (get_level(), cv2.utils.logging.getLogLevel()) == level
    out, err = capfd.readouterr()
    assert out == "" and err == "", err[-1000:]


def test_unopenable_video_raises_or_is_skipped_with_its_error(garbage_video, mpeg4_video):
    df = pd.concat([rows_for(garbage_video, 64), rows_for(mpeg4_video, 150)], ignore_index=True)
    with pytest.raises(VideoError, match="Garbage001_x264.mp4"):
        list(VideoClipStream(df, T=8))
    got = stream_items(VideoClipStream(df, T=8, on_error="skip"))
    assert sorted(got) == list(range(len(df)))
    bad = df.index[df.path == str(garbage_video)]
    for r, it in got.items():
        if r in bad:
            assert it["n_real"] == 0 and "Garbage001_x264.mp4" in it["error"]
            assert not it["frames"].any()
        else:
            assert it["n_real"] == 8 and it["error"] is None


def test_missing_file_names_the_file(tmp_path):
    df = rows_for(tmp_path / "Nope001_x264.mp4", 64)
    with pytest.raises(VideoError, match="Nope001_x264.mp4.*does not exist"):
        list(VideoClipStream(df))


def test_relative_paths_resolve_against_the_project_root(mpeg4_video, monkeypatch, tmp_path):
    monkeypatch.setenv("UCF_NB_ROOT", str(mpeg4_video.parent))
    monkeypatch.chdir(tmp_path)
    df = rows_for(mpeg4_video.name, 150).iloc[:2]
    assert sorted(stream_items(VideoClipStream(df))) == [0, 1]
    assert ClipDataset(df)[0][0].shape == (3, 8, 224, 224)


# ---------------------------------------------------------------------- validation
def test_bad_inputs_get_one_clear_sentence(h264_video):
    df = rows_for(h264_video, 200)
    with pytest.raises(ValueError, match="on_error='ignore'"):
        VideoClipStream(df, on_error="ignore")
    with pytest.raises(ValueError, match=r"column\(s\) \['end_frame'\]"):
        VideoClipStream(df.drop(columns="end_frame"))
    bad = df.copy()
    bad.loc[3, "end_frame"] = bad.loc[3, "start_frame"]
    with pytest.raises(ValueError, match="index row 3 has start_frame=48, end_frame=48"):
        VideoClipStream(bad)
    with pytest.raises(ValueError, match="T must be"):
        ClipDataset(df, T=0)
    with pytest.raises(ValueError, match="img_size=112 disagrees"):
        ClipDataset(df, img_size=112, preprocessing=Preprocessing.seed(224))
    with pytest.raises(TypeError, match="Preprocessing"):
        VideoClipStream(df, preprocessing={"size": 224})


def test_clip_arrays_are_reused_only_once_nothing_holds_them(offset_video):
    """A clip the consumer has dropped is written again for a later clip (no fresh pages per
    clip); one it still holds, as the array, a view or a tensor from ``torch.from_numpy``,
    is never touched again."""
    import weakref

    df = rows_for(offset_video, 130)
    ref = reference(df)
    kept, dropped = {}, []
    reused = 0
    for n, it in enumerate(VideoClipStream(df, T=8, segment_clips=3)):
        frames = it.pop("frames")
        reused += any(w() is frames for w in dropped)
        if n % 3 == 0:
            kept[it["row"]] = frames
        elif n % 3 == 1:
            kept[it["row"]] = torch.from_numpy(frames[2:])  # a view, through a tensor
        else:
            dropped.append(weakref.ref(frames))
        del frames, it
    assert reused > 0
    for r, x in kept.items():
        want = ref[r]["frames"]
        got = x.numpy() if isinstance(x, torch.Tensor) else x
        np.testing.assert_array_equal(got, want[2:] if isinstance(x, torch.Tensor) else want)
