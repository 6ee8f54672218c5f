"""Two demo runs on the same machine give identical outputs.

The demo data, the demo encoder and the probe are seeded; the demo parameter set pins device
and precision (CPU, float32). A second run of the pipeline (00 -> 02 train/val/test -> 03,
through papermill like the first) on fresh output folders must reproduce the first one's
index, embeddings and metrics exactly. The first run is the session's ``demo_book`` (see
conftest.py); the second is this session's golden run when ``make test`` made one (nbval ran
the same notebooks with the same parameters into build/golden), else one run here. The demo
dataset's own determinism is tested in test_demo.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import golden_tools
import numpy as np
import pytest

from ucf_nb.index.annotations import SPLITS
from ucf_nb.paths import display_path, resolve_path
from ucf_nb.report import pipeline

# Keys of metrics.json that are measurements of the run rather than results:
# "timing" holds wall-clock seconds of loading, fitting and scoring; "fingerprint" the
# embedding files' modification times (what run_probe compares before refitting a head).
VOLATILE_METRICS: frozenset[str] = frozenset({"timing", "fingerprint"})


@pytest.fixture(scope="module")
def second_run(demo_book):
    """The second run's folder (``<processed>/runs/<run name>``).

    When this session ran the golden notebooks (``make test``: ``pytest tests --nbval``) and that
    run was exactly these steps on the same demo, all of it passing, it is the second run: its
    notebooks are the source notebooks' cells with the same parameters, out_dir aside (see
    golden_tools.golden_run_of_this_session). Otherwise the steps run here, through papermill.
    """
    root = resolve_path("build/test_determinism")
    processed = "build/test_determinism/processed"
    steps = pipeline.pipeline_steps(pipeline.demo_parameters(demo_book["demo"], out_dir=processed))
    steps = [s for s in steps if s.notebook not in ("01_index_checks", "04_compare")]  # 01 and 04 only read
    golden = golden_tools.golden_run_of_this_session(demo_book["demo"], [s.name for s in steps])
    if golden is not None:
        yield golden / Path(pipeline.main_run_dir(steps)).relative_to(processed)
        return
    if root.exists():
        shutil.rmtree(root)
    pipeline.run_notebooks(steps, root / "executed", log=lambda *a: None)
    yield resolve_path(pipeline.main_run_dir(steps))
    shutil.rmtree(root)


def _split_files(out_dir, split):
    manifest = json.loads((out_dir / "manifest.json").read_text())
    return manifest["splits"][split]["files"]


@pytest.mark.slow
def test_two_demo_runs_give_the_same_index(demo_book, second_run):
    first = (demo_book["processed"] / "index_clips.csv").read_bytes()
    assert (second_run.parents[1] / "index_clips.csv").read_bytes() == first  # <processed>/runs/<run name>


@pytest.mark.slow
@pytest.mark.parametrize("split", SPLITS)
def test_two_demo_runs_give_identical_embeddings(demo_book, second_run, split):
    files_a, files_b = _split_files(demo_book["out_dir"], split), _split_files(second_run, split)
    assert set(files_a) == set(files_b)
    for kind in files_a:
        a = np.load(demo_book["out_dir"] / files_a[kind], allow_pickle=False)
        b = np.load(second_run / files_b[kind], allow_pickle=False)
        assert a.dtype == b.dtype and a.shape == b.shape, (split, kind)
        assert a.tobytes() == b.tobytes(), f"{split}: {kind} differs between two demo runs"
    emb = np.load(demo_book["out_dir"] / files_a["emb"], allow_pickle=False)
    # the comparison means something: real, varied embeddings of every clip
    assert emb.shape[0] > 0 and np.isfinite(emb).all() and float(np.std(emb)) > 0


@pytest.mark.slow
def test_two_demo_runs_give_identical_probe_metrics_and_scores(demo_book, second_run):
    # metrics.json records where its inputs were: the two runs' folders differ by design
    a = json.loads(
        (demo_book["out_dir"] / "probe" / "metrics.json")
        .read_text()
        .replace(display_path(demo_book["out_dir"]), "OUT_DIR")
    )
    b = json.loads((second_run / "probe" / "metrics.json").read_text().replace(display_path(second_run), "OUT_DIR"))
    differ = {
        k: (a.get(k), b.get(k))
        for k in sorted((set(a) | set(b)) - VOLATILE_METRICS)
        if json.dumps(a.get(k), sort_keys=True) != json.dumps(b.get(k), sort_keys=True)
    }
    assert not differ, f"metrics that differ between two demo runs (first, second): {differ}"
    assert 0.0 <= a["clip_auc_test"] <= 1.0  # a real metric was compared
    for split in ("val", "test"):
        name = f"scores_{split}.csv"
        assert (demo_book["out_dir"] / "probe" / name).read_bytes() == (second_run / "probe" / name).read_bytes()
