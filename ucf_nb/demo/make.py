"""The bundled demo: a small synthetic UCF-Crime tree and tiny, randomly initialised encoders.

Demo numbers come from a *random tiny encoder on synthetic videos*: they show that the
pipeline runs end to end, not how good any real model is.

``python -m ucf_nb.demo OUT_DIR`` writes ``OUT_DIR/UCF_Crime`` (videos in the official
folder layout plus ``Anomaly_Train.txt`` and
``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``) and ``OUT_DIR/encoder`` (a tiny
TimeSformer saved with ``save_pretrained``, loadable with ``from_pretrained`` exactly like
``facebook/timesformer-base-finetuned-k400``), plus ``OUT_DIR/encoders/<family>`` for the
other families the comparison page ranks (:data:`DEMO_EXTRA_FAMILIES`, written by
:func:`ucf_nb.encoders.tiny.make_tiny_encoder`).
"""
from __future__ import annotations

import argparse
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._compat import rename_deprecated
from ..paths import display_path, resolve_path
from ..progress import progress_bar as tqdm  # widget in Jupyter, text in the book
from .synthetic import write_synthetic_video

__all__ = ["make_demo_encoder", "make_demo_dataset", "DEMO_ENCODER_SEED", "DEMO_EXTRA_FAMILIES"]

DEMO_ENCODER_SEED = 0
#: tiny encoders of other families, in OUT_DIR/encoders/<family>, for the comparison page
DEMO_EXTRA_FAMILIES = ("videomae", "clip")

# A k400-style preprocessor: shorter side to 224, centre crop 224, mean/std 0.45/0.225,
# bilinear (resample=2), as the real TimeSformer checkpoint ships it.
_PREPROCESSOR = dict(
    do_resize=True, size={"shortest_edge": 224}, resample=2,
    do_center_crop=True, crop_size={"height": 224, "width": 224},
    do_rescale=True, rescale_factor=1 / 255,
    do_normalize=True, image_mean=[0.45, 0.45, 0.45], image_std=[0.225, 0.225, 0.225],
)


def make_demo_encoder(out_dir: str | os.PathLike, arch: str = "timesformer", *,
                      seed: int = DEMO_ENCODER_SEED, T: int = 8, img_size: int = 224,
                      **deprecated: Any) -> Path:
    """Save a tiny, seeded, randomly initialised video transformer to ``out_dir``.

    Same architecture family and input contract as the real checkpoints (pixel_values of
    shape (B, T, 3, img_size, img_size)), with a 64-wide, 2-layer trunk on 32-pixel patches, so it
    runs in milliseconds on a CPU. Saved as safetensors with a matching ``preprocessor_config.json``.

    Parameters
    ----------
    arch : {"timesformer", "videomae"}
    T : int
        Frames per clip the model is built for.
    img_size : int
        Side of the square input frames, in pixels. (``num_frames`` and ``image_size``, the
        names before 0.2, still work for one release, with a FutureWarning.)
    """
    renamed = rename_deprecated(deprecated, {"num_frames": "T", "image_size": "img_size"},
                                {"T": (T, 8), "img_size": (img_size, 224)}, where="make_demo_encoder")
    T, img_size = renamed["T"], renamed["img_size"]
    import torch
    from transformers import TimesformerConfig, TimesformerModel, VideoMAEConfig, VideoMAEModel

    VideoMAEImageProcessor = _image_processor_class()

    # 32-pixel patches (7x7 per 224-pixel frame) keep the forward pass a few ms per clip on
    # one CPU core, so the demo's time goes where a real run's goes: decoding.
    small: dict[str, Any] = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=128, image_size=img_size, patch_size=32,
                 num_frames=T)
    config: Any  # a TimesformerConfig or a VideoMAEConfig
    model_cls: Any
    if arch == "timesformer":
        config, model_cls = TimesformerConfig(**small), TimesformerModel
    elif arch == "videomae":
        config, model_cls = VideoMAEConfig(**small, tubelet_size=2), VideoMAEModel
    else:
        raise ValueError(f"arch must be 'timesformer' or 'videomae', got {arch!r}")
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    out = resolve_path(out_dir)
    with _no_transformers_progress():
        model.save_pretrained(out, safe_serialization=True)
    VideoMAEImageProcessor(**_PREPROCESSOR).save_pretrained(out)
    return out


def _image_processor_class():
    """The (PIL) VideoMAE image processor class; it saves the same preprocessor_config.json.

    transformers 5 names the torchvision-backed class ``VideoMAEImageProcessor`` and, without
    torchvision, warns and falls back to ``VideoMAEImageProcessorPil``: ask for that one. In
    transformers 4, ``VideoMAEImageProcessor`` is the PIL class.
    """
    try:
        from transformers import VideoMAEImageProcessorPil as cls
    except ImportError:
        from transformers import VideoMAEImageProcessor as cls
    return cls


@contextmanager
def _no_transformers_progress():
    """transformers' own progress bars ("Writing model shards") off within the block."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


# (category, folder it lives in, as in the official release)
DEMO_CATEGORIES = (
    ("Abuse", "Anomaly-Videos-Part-1"),
    ("Arson", "Anomaly-Videos-Part-1"),
    ("Fighting", "Anomaly-Videos-Part-2"),
    ("RoadAccidents", "Anomaly-Videos-Part-3"),
)
N_TRAIN_PER_CATEGORY = 4
N_TEST_PER_CATEGORY = 2
N_TRAIN_NORMAL = 8
N_TEST_NORMAL = 4
FPS = 30


def _demo_plan(seed: int) -> list[dict]:
    """Every demo video as a dict: relative path, split list it belongs to, category,
    number of frames and anomalous event windows [start, end)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    plan: list[dict] = []

    def length() -> int:
        return int(rng.integers(4, 8)) * FPS  # 4 to 7 seconds

    for category, part in DEMO_CATEGORIES:
        for i in range(N_TRAIN_PER_CATEGORY + N_TEST_PER_CATEGORY):
            train = i < N_TRAIN_PER_CATEGORY
            number = i + 1 if train else 20 + i  # test videos get their own numbers
            n = length()
            a = int(rng.integers(n // 5, n // 3))
            b = int(rng.integers(a + n // 4, n - n // 8))
            events = [(a, b)]
            if not train and i == N_TRAIN_PER_CATEGORY + 1:  # a second event, as some test videos have
                events = [(a, a + (b - a) // 2), (min(b + 16, n - 20), n - 4)]
            name = f"{category}{number:03d}_x264.mp4"
            plan.append(dict(path=f"{part}/{category}/{name}", name=name, category=category,
                             list="train" if train else "test", n_frames=n, events=events))
    for i in range(N_TRAIN_NORMAL):
        name = f"Normal_Videos{i + 1:03d}_x264.mp4"
        part = "Training-Normal-Videos-Part-1" if i < N_TRAIN_NORMAL // 2 else "Training-Normal-Videos-Part-2"
        plan.append(dict(path=f"{part}/{name}", name=name, category="Normal", list="train",
                         n_frames=length(), events=[]))
    for i in range(N_TEST_NORMAL):
        name = f"Normal_Videos_{3 * i + 3:03d}_x264.mp4"
        plan.append(dict(path=f"Testing_Normal_Videos_Anomaly/{name}", name=name,
                         category="Normal", list="test", n_frames=length(), events=[]))
    return plan


def make_demo_dataset(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write the synthetic UCF-Crime tree into ``out_dir``; returns ``out_dir``.

    36 H.264 videos (320x240, 30 fps, 4-7 s, keyframe every 250 frames, B-frames,
    lossless so that every run decodes to the same pixels): 4 anomaly
    categories with 4 training and 2 test videos each, 8 normal training and 4 normal test
    videos. Anomalous videos show a fast bright disc during their events; the test events
    are listed in ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt`` (frame numbers,
    -1 for none) and the training videos in ``Anomaly_Train.txt``, both in the official
    formats. Deterministic in ``seed``; rewriting an existing tree gives the same bytes.
    """

    root = resolve_path(out_dir)
    plan = _demo_plan(seed)
    for k, video in enumerate(tqdm(plan, desc="demo videos", unit="video", leave=False)):
        write_synthetic_video(root / video["path"], video["n_frames"], fps=FPS, seed=seed * 1000 + k,
                              events=video["events"], codec="libx264", gop=250, bframes=2,
                              lossless=True)
    train_lines = [
        (f"Training_Normal_Videos_Anomaly/{v['name']}" if v["category"] == "Normal"
         else f"{v['category']}/{v['name']}")
        for v in plan if v["list"] == "train"
    ]
    (root / "Anomaly_Train.txt").write_text("\n".join(train_lines) + "\n")
    test_lines = []
    for v in (v for v in plan if v["list"] == "test"):
        # the official file writes the last frame of each event (inclusive bounds)
        bounds = [x for a, b in v["events"] for x in (a, b - 1)]
        bounds += [-1] * (4 - len(bounds))
        test_lines.append("  ".join([v["name"], v["category"], *map(str, bounds)]) + "  ")
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text("\n".join(test_lines) + "\n")
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ucf_nb.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default="demo",
                        help="folder to write into, relative to the project root (default: demo)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    out = resolve_path(args.out_dir)
    t0 = time.perf_counter()
    root = make_demo_dataset(out / "UCF_Crime", seed=args.seed)
    print(f"demo dataset: {display_path(root)} ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    enc = make_demo_encoder(out / "encoder")
    print(f"demo encoder: {display_path(enc)} ({time.perf_counter() - t0:.1f} s)")
    from ..encoders.tiny import make_tiny_encoder  # torch only here: the demo dataset needs none

    for family in DEMO_EXTRA_FAMILIES:
        t0 = time.perf_counter()
        extra = make_tiny_encoder(out / "encoders" / family, family, seed=DEMO_ENCODER_SEED)
        print(f"demo encoder ({family}): {display_path(extra)} ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
