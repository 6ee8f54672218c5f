"""Shared fixtures: real video files written into temp folders."""
from __future__ import annotations

import os

import numpy as np
import pytest

# Kernels started by the tests (papermill, nbval) inherit this: text progress bars, as in the book
# and the golden notebooks, even where ipywidgets is installed (see ucf_nb.progress).
os.environ["UCF_NB_PROGRESS"] = "text"

from ucf_nb.demo.synthetic import write_synthetic_video


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
def gappy_video(tmp_path_factory):
    """A 30 fps H.264 file of 150 frames whose timestamps jump by 10 frames after frame 49
    (dropped frames, as in variable-frame-rate footage); B-frames, keyframe every 30."""
    path = tmp_path_factory.mktemp("videos") / "gappy_timestamps.mp4"
    return write_synthetic_video(path, 150, codec="libx264", gop=30, bframes=2,
                                 frame_pts=[i + (10 if i >= 50 else 0) for i in range(150)])


def faststart_truncated(src, dst, keep: float = 0.6):
    """A file whose container lies: the header (moved to the front) lists every frame, but
    the bytes end after ``keep`` of the file, so decoding stops early."""
    import av

    tmp = str(dst) + ".full.mp4"
    with av.open(str(src)) as inp, av.open(tmp, "w", options={"movflags": "faststart"}) as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        for pkt in inp.demux(s_in):
            if pkt.dts is None:
                continue
            pkt.stream = s_out
            out.mux(pkt)
    with open(tmp, "rb") as f:
        data = f.read()
    os.remove(tmp)
    with open(dst, "wb") as f:
        f.write(data[:int(len(data) * keep)])
    return dst


@pytest.fixture(scope="session")
def lying_video(tmp_path_factory, h264_video):
    """``h264_video`` with a header that lists all 200 frames, of which only about 90 decode."""
    return faststart_truncated(h264_video, tmp_path_factory.mktemp("v") / "lying.mp4")


@pytest.fixture(scope="session")
def garbage_video(tmp_path_factory):
    """Random bytes under a video's name: no decoder can open it."""
    path = tmp_path_factory.mktemp("v") / "Garbage001_x264.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return path


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """A freshly written demo: ``<dir>/UCF_Crime`` (dataset) and ``<dir>/encoder``."""
    from ucf_nb.demo import make_demo_dataset, make_demo_encoder

    out = tmp_path_factory.mktemp("demo")
    make_demo_dataset(out / "UCF_Crime")
    make_demo_encoder(out / "encoder")
    return out


# --- the demo run as a built book (report: tests/test_book.py, test_browser.py, test_determinism.py)

@pytest.fixture(scope="session")
def demo_book():
    """The demo pipeline executed with papermill and its book built, once per session.

    Everything is written under ``build/test_book/`` inside the project, so that the pages show
    project-relative paths exactly as ``make demo`` does. The demo data is ``demo/`` when
    ``make demo-data`` wrote it, else it is written to ``build/test_book/demo`` first.

    Returns a dict: ``root`` (build/test_book), ``book`` (the book's folder), ``html``
    (its _build/html), ``out_dir`` (the notebooks' run folder), ``processed`` (the index and
    ``runs/``, three families' runs), ``demo`` (the demo folder, project-relative),
    ``executed`` (paths, run order), ``steps`` (ucf_nb.report.pipeline.Step list), ``project_root``,
    ``warnings`` (what ucf_nb.report.pipeline.notebook_problems found in the executed notebooks).
    """
    import shutil

    from ucf_nb.paths import project_root, resolve_path
    from ucf_nb.report import book as report
    from ucf_nb.report import pipeline

    root = resolve_path("build/test_book")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    from ucf_nb.demo import DEMO_EXTRA_FAMILIES

    demo = "demo"
    if not (resolve_path("demo/UCF_Crime").is_dir() and resolve_path("demo/encoder").is_dir()
            and all(resolve_path(f"demo/encoders/{f}").is_dir() for f in DEMO_EXTRA_FAMILIES)):
        from ucf_nb.demo import make_demo_dataset, make_demo_encoder
        from ucf_nb.encoders.tiny import make_tiny_encoder

        demo = "build/test_book/demo"
        make_demo_dataset(resolve_path(demo) / "UCF_Crime")
        make_demo_encoder(resolve_path(demo) / "encoder")
        for family in DEMO_EXTRA_FAMILIES:
            make_tiny_encoder(resolve_path(demo) / "encoders" / family, family)
    book = root / "book"
    shutil.copytree(resolve_path("book"), book,
                    ignore=shutil.ignore_patterns("_build", "executed", "intro.md"))
    processed = "build/test_book/processed"
    steps = pipeline.pipeline_steps(pipeline.demo_parameters(demo, out_dir=processed))
    warnings = []
    report.run_report(steps, book, demo=True, log=warnings.append,
                      extra_runs=pipeline.demo_extra_runs(demo, out_dir=processed))
    executed = [book / "executed" / f"{step.name}.ipynb" for step in steps]
    html = report.build_book(book, quiet=True).parent
    return {"root": root, "book": book, "html": html, "out_dir": resolve_path(pipeline.main_run_dir(steps)),
            "processed": resolve_path(processed), "demo": demo,
            "executed": executed, "steps": steps, "project_root": project_root(),
            "warnings": [w for w in warnings if w.startswith("warning:")]}
