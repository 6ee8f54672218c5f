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


# --- the demo run as a built book (report: tests/test_book.py, test_browser.py, test_determinism.py)

@pytest.fixture(scope="session")
def demo_book():
    """The demo pipeline executed with papermill and its book built, once per session.

    Everything is written under ``build/test_book/`` inside the project, so that the pages show
    project-relative paths exactly as ``make demo`` does. The demo data is ``demo/`` when
    ``make demo-data`` wrote it, else it is written to ``build/test_book/demo`` first.

    Returns a dict: ``root`` (build/test_book), ``book`` (the book's folder), ``html``
    (its _build/html), ``out_dir``, ``demo`` (the demo folder, project-relative),
    ``executed`` (paths, run order), ``steps`` (ucf_nb.report.Step list), ``project_root``,
    ``warnings`` (what ucf_nb.report.notebook_problems found in the executed notebooks).
    """
    import shutil

    from ucf_nb import report
    from ucf_nb.paths import project_root, resolve_path

    root = resolve_path("build/test_book")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    demo = "demo"
    if not (resolve_path("demo/UCF_Crime").is_dir() and resolve_path("demo/encoder").is_dir()):
        from ucf_nb.demo import make_demo_dataset, make_demo_encoder

        demo = "build/test_book/demo"
        make_demo_dataset(resolve_path(demo) / "UCF_Crime")
        make_demo_encoder(resolve_path(demo) / "encoder")
    book = root / "book"
    shutil.copytree(resolve_path("book"), book,
                    ignore=shutil.ignore_patterns("_build", "executed", "intro.md"))
    out_dir = "build/test_book/processed"
    steps = report.pipeline_steps(report.demo_parameters(demo, out_dir=out_dir))
    warnings = []
    report.run_report(steps, book, demo=True, log=warnings.append)
    executed = [book / "executed" / f"{step.name}.ipynb" for step in steps]
    html = report.build_book(book, quiet=True).parent
    return {"root": root, "book": book, "html": html, "out_dir": resolve_path(out_dir), "demo": demo,
            "executed": executed, "steps": steps, "project_root": project_root(),
            "warnings": [w for w in warnings if w.startswith("warning:")]}
