"""Shared fixtures: real video files written into temp folders."""
from __future__ import annotations

import pytest

from ucf_nb.synthetic import write_synthetic_video


@pytest.fixture(scope="session")
def h264_video(tmp_path_factory):
    """A 320x240, 30 fps H.264 file of 200 frames, keyframe every 250, B-frames on."""
    path = tmp_path_factory.mktemp("videos") / "h264_sparse_keys.mp4"
    return write_synthetic_video(path, 200, codec="libx264", gop=250, bframes=2)


@pytest.fixture(scope="session")
def mpeg4_video(tmp_path_factory):
    """A 320x240, 30 fps MPEG-4 part 2 file of 150 frames, keyframe every 12."""
    path = tmp_path_factory.mktemp("videos") / "mpeg4.mp4"
    return write_synthetic_video(path, 150, codec="mpeg4", gop=12, bframes=0)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """A freshly written demo: ``<dir>/UCF_Crime`` (dataset) and ``<dir>/encoder``."""
    from ucf_nb.demo import make_demo_dataset, make_demo_encoder

    out = tmp_path_factory.mktemp("demo")
    make_demo_dataset(out / "UCF_Crime")
    make_demo_encoder(out / "encoder")
    return out
