"""ucf_nb.video.decode: probing and the sequential reader, on real encoded files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ucf_nb import VideoError
from ucf_nb.demo.synthetic import read_frame_number, write_synthetic_video
from ucf_nb.video import read_frame, seek_is_exact
from ucf_nb.video.decode import iter_video_frames, probe_video


@pytest.fixture(scope="module")
def offset_video(tmp_path_factory):
    """H.264 whose timestamps start at 7 frames, B-frames, keyframe every 50."""
    path = tmp_path_factory.mktemp("v") / "pts_offset.mp4"
    return write_synthetic_video(path, 120, codec="libx264", gop=50, bframes=2, pts_offset=7)


def seek_read(path, k):
    """The prototype's way: seek, read, BGR->RGB."""
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, int(k))
    ok, frame = cap.read()
    cap.release()
    assert ok, f"seek reference could not read frame {k} of {path}"
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def test_probe_video_reports_container_values(h264_video):
    info = probe_video(h264_video)
    assert (info.fps, info.n_frames, info.width, info.height) == (30.0, 200, 320, 240)
    assert probe_video(h264_video, count_frames=True).n_frames == 200


def test_probe_video_counts_real_frames_when_the_container_lies(lying_video):
    claimed = probe_video(lying_video).n_frames
    real = probe_video(lying_video, count_frames=True).n_frames
    assert claimed == 200
    assert 0 < real < claimed
    frames = list(iter_video_frames(lying_video))
    assert len(frames) == real
    assert [read_frame_number(f) for _, f in frames] == list(range(real))


@pytest.mark.parametrize("fixture", ["h264_video", "mpeg4_video", "offset_video"])
def test_every_frame_in_order(request, fixture):
    path = request.getfixturevalue(fixture)
    n = probe_video(path).n_frames
    got = [(k, read_frame_number(f)) for k, f in iter_video_frames(path)]
    assert got == [(k, k) for k in range(n)]


@pytest.mark.parametrize("fixture", ["h264_video", "mpeg4_video", "offset_video"])
def test_wanted_frames_match_the_seek_reference(request, fixture):
    path = request.getfixturevalue(fixture)
    wanted = [113, 3, 3, 0, 64, 65, 119, 51]
    got = list(iter_video_frames(path, wanted))
    assert [k for k, _ in got] == sorted(set(wanted))
    for k, frame in got:
        assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
        assert read_frame_number(frame) == k
        np.testing.assert_array_equal(frame, seek_read(path, k))


def test_seek_to_a_mid_gop_start_gives_the_same_pixels(offset_video):
    wanted = [37, 38, 90]  # 37 is neither a keyframe nor the first frame
    with_seek = list(iter_video_frames(offset_video, wanted, seek=True))
    without = list(iter_video_frames(offset_video, wanted, seek=False))
    assert [k for k, _ in with_seek] == [k for k, _ in without] == wanted
    for (_, a), (_, b) in zip(with_seek, without):
        np.testing.assert_array_equal(a, b)


def test_bgr_output_is_the_channel_swap(mpeg4_video):
    ((_, rgb),) = iter_video_frames(mpeg4_video, [20])
    ((_, bgr),) = iter_video_frames(mpeg4_video, [20], color="bgr")
    np.testing.assert_array_equal(bgr, rgb[..., ::-1])


def test_frames_past_the_end_are_not_invented(h264_video, lying_video):
    assert [k for k, _ in iter_video_frames(h264_video, [198, 199, 200, 250])] == [198, 199]
    real = probe_video(lying_video, count_frames=True).n_frames
    got = list(iter_video_frames(lying_video, [real - 2, real + 5, 190]))
    assert [k for k, _ in got] == [real - 2]
    # a first wanted frame past the real end: the seek lands elsewhere and is not trusted
    assert list(iter_video_frames(lying_video, [real + 5, 190])) == []
    last = read_frame(lying_video, real - 1)
    assert read_frame_number(last) == real - 1
    assert read_frame(lying_video, real) is None


def test_unopenable_files_raise_video_error_naming_the_file(garbage_video, tmp_path):
    for path in (garbage_video, tmp_path / "missing.mp4", tmp_path):
        with pytest.raises(VideoError, match=str(path.name)) as info:
            probe_video(path)
        assert isinstance(info.value, RuntimeError)
        assert info.value.path == str(path)
        with pytest.raises(VideoError, match=str(path.name)):
            list(iter_video_frames(path, [0]))


def test_bad_arguments_are_named(h264_video):
    with pytest.raises(ValueError, match="color"):
        iter_video_frames(h264_video, [0], color="yuv")
    with pytest.raises(ValueError, match="-3"):
        iter_video_frames(h264_video, [2, -3])
    assert list(iter_video_frames(h264_video, [])) == []


def test_seeks_are_only_used_where_timestamps_make_them_land_right(gappy_video, h264_video, mpeg4_video, offset_video):
    """OpenCV numbers the frame a seek lands on from its timestamp, so on a file whose timestamps
    jump its own position check passes while the frame is another one (frame 60 gave decoded
    frame 62): such a file is decoded from the start, and every frame is the one asked for."""
    assert seek_is_exact(h264_video) and seek_is_exact(mpeg4_video) and seek_is_exact(offset_video)
    assert not seek_is_exact(gappy_video)
    # the trap itself: OpenCV's verified seek is off on this file
    cap = cv2.VideoCapture(str(gappy_video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 60)
    assert int(cap.get(cv2.CAP_PROP_POS_FRAMES)) == 60
    ok, frame = cap.read()
    cap.release()
    assert ok and read_frame_number(frame) != 60
    for start in (20, 60, 95, 120):
        got = [(k, read_frame_number(f)) for k, f in iter_video_frames(gappy_video, range(start, start + 5))]
        assert got == [(k, k) for k in range(start, start + 5)]
    assert read_frame_number(read_frame(gappy_video, 140)) == 140


# ------------------------------------------- the skipping reader (PyAV, seek-exact H.264)
def _skipping(path, wanted, *, seek, numbering=None, color="rgb"):
    from ucf_nb.video.decode import DecodeState, _decode_skipping, frame_numbering

    state = DecodeState()
    got = list(
        _decode_skipping(
            path,
            np.asarray(wanted),
            numbering or frame_numbering(path),
            seek=seek,
            color=color,
            decode_threads=1,
            state=state,
        )
    )
    return got, state


@pytest.mark.parametrize("fixture", ["h264_video", "offset_video"])
def test_skipping_unwanted_non_reference_frames_keeps_the_pixels_of_full_decoding(request, fixture):
    """Every 3rd frame wanted: the decoder puts out fewer frames than a full decode (B-frames
    nobody samples are skipped), and each wanted frame is OpenCV's full decode, bit for bit,
    in either channel order."""
    path = request.getfixturevalue(fixture)
    n = probe_video(path).n_frames
    wanted = list(range(1, n, 3))
    full = dict(iter_video_frames(path, wanted, seek=False, color="bgr"))
    for color in ("bgr", "rgb"):
        got, state = _skipping(path, wanted, seek=False, color=color)
        assert [k for k, _ in got] == wanted
        assert len(wanted) < state.frames_decoded < n  # skipped some, decoded the references
        for k, frame in got:
            assert read_frame_number(frame) == k
            np.testing.assert_array_equal(frame, full[k] if color == "bgr" else full[k][..., ::-1])


@pytest.mark.parametrize("first", [37, 39, 40, 41, 79])
def test_skipping_reader_after_a_seek_gives_the_frames_it_names(offset_video, first):
    """Seeks land on the key frame before the first wanted frame (keyframe every 50 here);
    frames are numbered from their timestamps, so the pixels are full decoding's."""
    wanted = [first, first + 1, 100, 119]
    got, state = _skipping(offset_video, wanted, seek=True)
    assert state.seeked and [k for k, _ in got] == wanted
    full = dict(iter_video_frames(offset_video, wanted, seek=False))
    for k, frame in got:
        np.testing.assert_array_equal(frame, full[k])


def test_a_seek_that_lands_past_the_first_wanted_frame_goes_back_further(offset_video):
    """A seek can land on a key frame after the frame asked for (a container that indexes key
    frames by decode time): the reader then seeks further back instead of giving other frames."""
    from ucf_nb.video.decode import FrameNumbering, frame_numbering

    class Late(FrameNumbering):  # asks for a timestamp 5 frames too late
        def pts(self, frame):
            return super().pts(frame + 5)

    late = Late(*frame_numbering(offset_video))
    got, _ = _skipping(offset_video, [46, 47, 60], seek=True, numbering=late)  # lands on the key frame at 50
    assert [(k, read_frame_number(f)) for k, f in got] == [(46, 46), (47, 47), (60, 60)]


def test_a_pyav_whose_colour_conversion_differs_from_opencvs_is_not_used(h264_video, monkeypatch):
    """PyAV and OpenCV each carry their own FFmpeg: the skipping reader checks, on the file's
    first frame, that PyAV converts to OpenCV's pixels, and gives nothing where it does not
    (the stream then reads with OpenCV)."""
    import av.video.reformatter

    import ucf_nb.video.decode as video_mod

    real = av.video.reformatter.VideoReformatter

    class Bt709:  # another colour matrix: other pixels
        def __init__(self):
            self._real = real()

        def reformat(self, frame, format=None, **kw):
            return self._real.reformat(frame, format=format, src_colorspace="ITU709", **kw)

    monkeypatch.setattr(video_mod, "_SAME_CONVERSION", {})
    assert _skipping(h264_video, [3, 4], seek=False)[0]  # the real one passes
    monkeypatch.setattr(video_mod, "_SAME_CONVERSION", {})
    monkeypatch.setattr(av.video.reformatter, "VideoReformatter", Bt709)
    assert _skipping(h264_video, [3, 4], seek=False)[0] == []


def test_other_codecs_and_damaged_files_are_left_to_opencv(mpeg4_video, lying_video):
    """Only H.264 is decoded with skipping; a file whose packets stop decoding ends the
    skipping reader early and quietly (OpenCV's reader goes on from there)."""
    from ucf_nb.video.decode import DecodeState, decode_frames, frame_numbering

    assert _skipping(mpeg4_video, [3, 4], seek=False)[0] == []
    n = probe_video(lying_video, count_frames=True).n_frames
    got, _ = _skipping(lying_video, [3, n - 1, n + 20], seek=False)
    assert [k for k, _ in got] == [3]  # PyAV stops at the damaged packet, with frames still in the decoder
    state = DecodeState()
    frames = list(
        decode_frames(
            lying_video,
            np.array([3, n - 1, n + 20]),
            color="rgb",
            decode_threads=1,
            state=state,
            numbering=frame_numbering(lying_video),
        )
    )
    assert [(k, read_frame_number(f)) for k, f in frames] == [(3, 3), (n - 1, n - 1)] and state.n_decoded == n
