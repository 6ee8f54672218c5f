"""The bundled demo: a small synthetic UCF-Crime tree and tiny, randomly initialised encoders.

Demo numbers come from a *random tiny encoder on synthetic videos*: they show that the
pipeline runs end to end, not how good any real model is.

``python -m ucf_nb.demo OUT_DIR`` writes ``OUT_DIR/UCF_Crime`` (videos in the official
folder layout plus ``Anomaly_Train.txt`` and
``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``) and ``OUT_DIR/encoder`` (a tiny
TimeSformer saved with ``save_pretrained``, loadable with ``from_pretrained`` exactly like
``facebook/timesformer-base-finetuned-k400``).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["make_demo_encoder", "make_demo_dataset", "DEMO_ENCODER_SEED"]

DEMO_ENCODER_SEED = 0

# A k400-style preprocessor: shorter side to 224, centre crop 224, mean/std 0.45/0.225,
# bilinear (resample=2), as the real TimeSformer checkpoint ships it.
_PREPROCESSOR = dict(
    do_resize=True, size={"shortest_edge": 224}, resample=2,
    do_center_crop=True, crop_size={"height": 224, "width": 224},
    do_rescale=True, rescale_factor=1 / 255,
    do_normalize=True, image_mean=[0.45, 0.45, 0.45], image_std=[0.225, 0.225, 0.225],
)


def make_demo_encoder(out_dir: str | os.PathLike, arch: str = "timesformer", *,
                      seed: int = DEMO_ENCODER_SEED, num_frames: int = 8,
                      image_size: int = 224) -> Path:
    """Save a tiny, seeded, randomly initialised video transformer to ``out_dir``.

    Same architecture family and input contract as the real checkpoints (pixel_values of
    shape (B, T, 3, image_size, image_size)), with a 64-wide, 2-layer trunk so it runs in
    milliseconds on a CPU. Saved as safetensors with a matching ``preprocessor_config.json``.

    Parameters
    ----------
    arch : {"timesformer", "videomae"}
    """
    import torch
    from transformers import (TimesformerConfig, TimesformerModel, VideoMAEConfig,
                              VideoMAEImageProcessor, VideoMAEModel)

    small = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=128, image_size=image_size, patch_size=16,
                 num_frames=num_frames)
    if arch == "timesformer":
        config, model_cls = TimesformerConfig(**small), TimesformerModel
    elif arch == "videomae":
        config, model_cls = VideoMAEConfig(**small, tubelet_size=2), VideoMAEModel
    else:
        raise ValueError(f"arch must be 'timesformer' or 'videomae', got {arch!r}")
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    out = Path(out_dir)
    model.save_pretrained(out, safe_serialization=True)
    VideoMAEImageProcessor(**_PREPROCESSOR).save_pretrained(out)
    return out


def make_demo_dataset(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write the synthetic UCF-Crime tree; see the module docstring. Returns its root."""
    from ._demo_data import write_demo_tree

    return write_demo_tree(Path(out_dir), seed=seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ucf_nb.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default="demo",
                        help="folder to write into, relative to the project root (default: demo)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from .paths import display_path, resolve_path

    out = resolve_path(args.out_dir)
    root = make_demo_dataset(out / "UCF_Crime", seed=args.seed)
    enc = make_demo_encoder(out / "encoder")
    print(f"demo dataset: {display_path(root)}\ndemo encoder: {display_path(enc)}")


if __name__ == "__main__":
    main()
