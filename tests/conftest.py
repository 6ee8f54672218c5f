"""Shared fixtures: real video files written into temp folders."""

from __future__ import annotations

import os

import numpy as np
import pytest

# Kernels started by the tests (papermill, nbval) inherit this: text progress bars, as in the book
# and the golden notebooks, even where ipywidgets is installed (see ucf_nb.progress).
os.environ["UCF_NB_PROGRESS"] = "text"

from video_files import faststart_truncated

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
    return write_synthetic_video(
        path, 150, codec="libx264", gop=30, bframes=2, frame_pts=[i + (10 if i >= 50 else 0) for i in range(150)]
    )


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
    if not (
        resolve_path("demo/UCF_Crime").is_dir()
        and resolve_path("demo/encoder").is_dir()
        and all(resolve_path(f"demo/encoders/{f}").is_dir() for f in DEMO_EXTRA_FAMILIES)
    ):
        from ucf_nb.demo import make_demo_dataset, make_demo_encoder
        from ucf_nb.encoders.tiny import make_tiny_encoder

        demo = "build/test_book/demo"
        make_demo_dataset(resolve_path(demo) / "UCF_Crime")
        make_demo_encoder(resolve_path(demo) / "encoder")
        for family in DEMO_EXTRA_FAMILIES:
            make_tiny_encoder(resolve_path(demo) / "encoders" / family, family)
    book = root / "book"
    shutil.copytree(resolve_path("book"), book, ignore=shutil.ignore_patterns("_build", "executed", "intro.md"))
    processed = "build/test_book/processed"
    steps = pipeline.pipeline_steps(pipeline.demo_parameters(demo, out_dir=processed))
    warnings = []
    report.run_report(
        steps, book, demo=True, log=warnings.append, extra_runs=pipeline.demo_extra_runs(demo, out_dir=processed)
    )
    executed = [book / "executed" / f"{step.name}.ipynb" for step in steps]
    html = report.build_book(book, quiet=True).parent
    return {
        "root": root,
        "book": book,
        "html": html,
        "out_dir": resolve_path(pipeline.main_run_dir(steps)),
        "processed": resolve_path(processed),
        "demo": demo,
        "executed": executed,
        "steps": steps,
        "project_root": project_root(),
        "warnings": [w for w in warnings if w.startswith("warning:")],
    }


# --- twelve runs of six families, compared on one page (tests/test_browser.py) -----------------

#: (encoder folder, family, frames the tiny model is built for, seed, the runs made with it). The
#: folders are named like the real checkpoints so that the run names are as long as a real run's.
TWELVE_RUNS = (
    ("timesformer-base-finetuned-k400", "timesformer", 8, 0, ({"T": 8, "pooling": "cls"}, {"T": 8, "pooling": "mean"})),
    ("videomae-base-finetuned-kinetics", "videomae", 8, 1, ({"T": 8},)),
    ("videomae-small-finetuned-ssv2", "videomae", 4, 2, ({"T": 4},)),
    ("vivit-b-16x2-kinetics400", "vivit", 8, 3, ({"T": 8, "pooling": "cls"}, {"T": 8, "pooling": "mean"})),
    ("clip-vit-base-patch16", "clip", 8, 4, ({"T": 8}, {"T": 8, "views": "ten_crop"})),
    ("xclip-base-patch32", "xclip", 8, 5, ({"T": 8},)),
    ("xclip-base-patch32-4-frames", "xclip", 4, 6, ({"T": 4},)),
    ("vjepa2-vitl-fpc16-256-ssv2", "vjepa2", 8, 7, ({"T": 8}, {"T": 4})),
)


@pytest.fixture(scope="session")
def twelve_runs_book():
    """Twelve real runs of six encoder families (two heads each) and the comparison page's book.

    Each run is the real pipeline on the demo data (``ucf_nb.run_encoder``: extract_split on
    every split, then run_probe's linear and MIL heads) with a tiny random encoder of its
    family on 64-pixel frames (:data:`TWELVE_RUNS`; T 4 and 8, cls and mean pooling, one
    ten-crop run), so nothing in the table or the figures is written by hand. ``04_compare`` is
    executed with papermill into a book of two pages (an intro and the comparison) with the
    project's ``_config.yml`` and CSS, then built.

    Returns a dict: ``root`` (build/test_compare), ``runs`` (the runs folder), ``book``,
    ``html`` (its _build/html), ``names`` (the twelve run names), ``annotation``.
    """
    import shutil

    import yaml

    from ucf_nb import build_index, run_encoder
    from ucf_nb.encoders.tiny import make_tiny_encoder
    from ucf_nb.paths import display_path, resolve_path
    from ucf_nb.report import book as report
    from ucf_nb.report import pipeline

    root = resolve_path("build/test_compare")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    demo = "demo"
    if not resolve_path("demo/UCF_Crime").is_dir():
        from ucf_nb.demo import make_demo_dataset

        demo = "build/test_compare/demo"
        make_demo_dataset(resolve_path(demo) / "UCF_Crime")
    annotation = f"{demo}/UCF_Crime/Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    index = "build/test_compare/index_clips.csv"
    build_index(f"{demo}/UCF_Crime", index_path=index, stride=32, probe_threads=0)  # half the clips: cheaper
    runs = "build/test_compare/runs"
    names = []
    for folder, family, frames, seed, settings in TWELVE_RUNS:
        checkpoint = make_tiny_encoder(root / "encoders" / folder, family, seed=seed, num_frames=frames, image_size=64)
        for kwargs in settings:
            out = run_encoder(
                display_path(checkpoint),
                index_path=index,
                runs_dir=runs,
                annotation_path=annotation,
                batch_size=16,
                num_workers=0,
                device="cpu",
                precision="fp32",
                progress=False,
                mil_params={"max_iter": 100, "eval_every": 25, "patience": 2},
                **kwargs,
            )
            names.append(resolve_path(out).name)
    assert len(set(names)) == 12, names

    book = root / "book"
    book.mkdir()
    shutil.copy(resolve_path("book/_config.yml"), book / "_config.yml")
    shutil.copytree(resolve_path("book/_static"), book / "_static")
    (book / "_toc.yml").write_text(
        yaml.safe_dump(
            {
                "format": "jb-book",
                "root": "intro",
                "parts": [{"caption": "Encoders side by side", "chapters": [{"file": "executed/04_compare"}]}],
            }
        )
    )
    (book / "intro.md").write_text(
        "# Twelve runs\n\nTwelve tiny random encoders of six families on the demo's "
        "synthetic videos, compared on the next page.\n"
    )
    step = pipeline.Step("04_compare", "04_compare", {"runs_dir": runs, "annotation_path": annotation, "demo": True})
    pipeline.run_notebooks([step], book / "executed", log=lambda line: None)
    html = report.build_book(book, quiet=True).parent
    return {
        "root": root,
        "runs": resolve_path(runs),
        "book": book,
        "html": html,
        "names": names,
        "annotation": annotation,
    }
