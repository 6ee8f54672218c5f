import filecmp
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ucf_nb.demo import make_demo_encoder
from ucf_nb.demo.make import DEMO_CATEGORIES
from ucf_nb.demo.synthetic import read_frame_number

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def second_demo(request, tmp_path_factory):
    """A second demo dataset, written by another process started before this module's first
    test, so that it is written while ``demo_dir`` writes the first one (two cores, half the
    wait). Yields ``(process, its UCF_Crime folder, its stderr file)``; None when the test that
    needs it was not selected."""
    if not any(getattr(item, "originalname", None) == "test_demo_is_deterministic" for item in request.session.items):
        yield None
        return
    out = tmp_path_factory.mktemp("demo_again")
    log = open(out / "stderr.txt", "w")  # noqa: SIM115 (the subprocess writes it; closed after it ends)
    code = f"from ucf_nb.demo import make_demo_dataset; make_demo_dataset({str(out / 'UCF_Crime')!r})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    try:
        yield proc, out / "UCF_Crime", out / "stderr.txt"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.close()


def test_demo_tree_has_official_layout(demo_dir):
    root = demo_dir / "UCF_Crime"
    videos = sorted(root.rglob("*.mp4"))
    assert len(videos) >= 20
    tops = {v.relative_to(root).parts[0] for v in videos}
    assert {"Anomaly-Videos-Part-1", "Training-Normal-Videos-Part-1", "Testing_Normal_Videos_Anomaly"} <= tops
    categories = {v.parent.name for v in videos if v.parts[-3].startswith("Anomaly-Videos")}
    assert len(categories) >= 3 and categories == {c for c, _ in DEMO_CATEGORIES}
    # file names are unique across the tree, as in the real dataset
    assert len({v.name for v in videos}) == len(videos)


def test_demo_lists_use_official_formats(demo_dir):
    root = demo_dir / "UCF_Crime"
    names = {v.name for v in root.rglob("*.mp4")}
    train = (root / "Anomaly_Train.txt").read_text().split()
    for line in train:
        prefix, name = line.split("/")
        assert name in names
        assert prefix == "Training_Normal_Videos_Anomaly" or name.startswith(prefix)
    pattern = re.compile(r"^(\S+)  (\S+)  (-?\d+)  (-?\d+)  (-?\d+)  (-?\d+)  $")
    test_lines = (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").read_text().splitlines()
    for line in test_lines:
        m = pattern.match(line)
        assert m, line
        assert m.group(1) in names and m.group(1) not in {t.split("/")[1] for t in train}
        if m.group(2) == "Normal":
            assert m.group(3) == "-1"
        else:
            assert int(m.group(4)) > int(m.group(3)) >= 0


def test_demo_videos_are_320x240_30fps_with_visible_events(demo_dir):
    root = demo_dir / "UCF_Crime"
    line = next(
        ln
        for ln in (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").read_text().splitlines()
        if "Normal" not in ln
    )
    name, _, start, end, *_ = line.split()
    path = next(root.rglob(name))
    cap = cv2.VideoCapture(str(path))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 240)
    assert cap.get(cv2.CAP_PROP_FPS) == 30
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    assert [read_frame_number(f) for f in frames] == list(range(len(frames)))

    # the anomaly is a bright yellow disc: many more saturated-yellow pixels inside the event
    def yellow(f):  # BGR
        return int(((f[..., 2] > 200) & (f[..., 1] > 200) & (f[..., 0] < 120)).sum())

    inside = np.mean([yellow(f) for f in frames[int(start) : int(end) + 1]])
    outside = np.mean([yellow(f) for f in frames[: int(start)]])
    assert inside > 500 and outside < 50


def _decoded(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return np.stack(frames)
        frames.append(frame)


def test_demo_is_deterministic(demo_dir, second_demo):
    """A second demo decodes to the same pixels and writes the same lists (the videos are
    lossless, so this holds whatever choices the encoder makes on a busy machine)."""
    proc, again, stderr = second_demo  # make_demo_dataset(again), in its own process
    assert proc.wait(timeout=600) == 0, stderr.read_text()[-3000:]  # a hang fails, it does not stall CI
    first = demo_dir / "UCF_Crime"
    files = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    for rel in files:
        if rel.suffix == ".mp4":
            np.testing.assert_array_equal(_decoded(first / rel), _decoded(again / rel), err_msg=str(rel))
        else:
            assert (first / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_demo_encoder_loads_through_from_pretrained(demo_dir):
    import torch
    from transformers import AutoImageProcessor, AutoModel

    model = AutoModel.from_pretrained(demo_dir / "encoder")
    assert type(model).__name__ == "TimesformerModel"
    assert (demo_dir / "encoder" / "model.safetensors").is_file()
    proc = AutoImageProcessor.from_pretrained(demo_dir / "encoder")
    assert list(proc.image_mean) == [0.45, 0.45, 0.45] and proc.size["shortest_edge"] == 224
    with torch.no_grad():
        out = model(pixel_values=torch.zeros(1, 8, 3, 224, 224)).last_hidden_state
    side = 224 // model.config.patch_size
    assert out.shape == (1, 1 + 8 * side * side, model.config.hidden_size)


def test_demo_encoder_is_seeded(tmp_path):
    a = make_demo_encoder(tmp_path / "a")
    b = make_demo_encoder(tmp_path / "b")
    c = make_demo_encoder(tmp_path / "c", seed=1)
    assert filecmp.cmp(a / "model.safetensors", b / "model.safetensors", shallow=False)
    assert not filecmp.cmp(a / "model.safetensors", c / "model.safetensors", shallow=False)


def test_demo_encoder_old_parameter_names_warn_and_new_ones_win(tmp_path):
    import json

    import pytest

    with pytest.warns(FutureWarning) as record:
        old = make_demo_encoder(tmp_path / "old", image_size=64, num_frames=4)
    assert sorted(str(w.message).split(":")[1].split(" is renamed")[0].strip() for w in record) == [
        "image_size=",
        "num_frames=",
    ]
    config = json.loads((old / "config.json").read_text())
    assert (config["image_size"], config["num_frames"]) == (64, 4)
    with pytest.warns(FutureWarning, match="both were given; using img_size=96"):
        both = make_demo_encoder(tmp_path / "both", img_size=96, image_size=64)
    assert json.loads((both / "config.json").read_text())["image_size"] == 96
    with pytest.raises(TypeError, match="unexpected keyword argument 'imgsize'"):
        make_demo_encoder(tmp_path / "typo", imgsize=64)


def test_demo_encoder_is_saved_without_a_word(tmp_path, capfd, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        make_demo_encoder(tmp_path / "quiet", img_size=64)
    out, err = capfd.readouterr()
    assert (out + err).strip() == "" and not caplog.records, (out, err, caplog.records)
