"""Tiny, seeded, randomly initialised encoders of every family, saved with ``save_pretrained``.

Each is the family's own Hugging Face class built from a small config (64-wide, 2 layers,
32-pixel patches) and saved as safetensors next to the processor config the real checkpoint
ships (same fields, same kind of file), so it loads through exactly the path of the real
checkpoint: ``AutoConfig`` -> the family's adapter -> ``from_pretrained``. The demo and the
tests use them; their embeddings mean nothing.

- ``timesformer``: ``TimesformerModel``, k400-style processor config (VideoMAE image processor);
- ``videomae``: ``VideoMAEForVideoClassification`` with mean pooling and ``fc_norm`` (as
  ``MCG-NJU/videomae-base-finetuned-kinetics``), k400-style processor config;
- ``vivit``: ``VivitModel``, ``VivitImageProcessor`` (rescale to [-1, 1], then mean/std);
- ``clip``: ``CLIPModel`` (text and vision towers), ``CLIPImageProcessor``;
- ``clip_vision``: ``CLIPVisionModelWithProjection`` (model_type ``clip_vision_model``),
  ``CLIPImageProcessor``;
- ``xclip``: ``XCLIPModel``, a VideoMAE image processor config as X-CLIP ships;
- ``vjepa2``: ``VJEPA2Model``, ``video_preprocessor_config.json`` as ``VJEPA2VideoProcessor``
  writes it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..paths import resolve_path

__all__ = ["TINY_FAMILIES", "make_tiny_encoder"]

TINY_FAMILIES = ("timesformer", "videomae", "vivit", "clip", "clip_vision", "xclip", "vjepa2")

IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406]
IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225]

# A k400-style preprocessor (TimeSformer, VideoMAE): shorter side to the image size, centre
# crop, mean/std 0.45/0.225, bilinear, as the real TimeSformer checkpoint ships it.
K400_PREPROCESSOR = dict(
    do_resize=True, resample=2, do_center_crop=True, do_rescale=True, rescale_factor=1 / 255,
    do_normalize=True, image_mean=[0.45, 0.45, 0.45], image_std=[0.225, 0.225, 0.225],
)

_TRUNK = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
_TEXT = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=64,
             max_position_embeddings=16, pad_token_id=1, bos_token_id=62, eos_token_id=63)


def _square(n: int) -> dict:
    return {"height": int(n), "width": int(n)}


def _processor_class(name: str):
    """transformers' PIL-backed image processor ``name`` (it saves the same config as the
    torchvision one, which transformers 5 would otherwise ask for and warn about)."""
    import transformers as tf

    return getattr(tf, f"{name}Pil", None) or getattr(tf, name)


def make_tiny_encoder(out_dir: str | os.PathLike, family: str = "timesformer", *, seed: int = 0,
                      num_frames: int = 8, image_size: int = 224, patch_size: int = 32) -> Path:
    """Save a tiny random encoder of ``family`` (and its processor config) into ``out_dir``.

    Parameters
    ----------
    out_dir : str or path-like
        Folder to write (relative paths resolve against the project root).
    family : str
        One of :data:`TINY_FAMILIES`.
    seed : int
        Seed of the random initialisation (the same seed writes the same weights).
    num_frames : int
        Frames per clip the model is built for (ignored by the per-frame CLIP families).
    image_size : int
        Side of the square frames it takes, in pixels; the processor config resizes and
        crops to it.
    patch_size : int
        Side of the patches, in pixels (must divide ``image_size``).

    Returns
    -------
    pathlib.Path
        ``out_dir``, resolved.
    """
    import torch
    import transformers as tf
    from transformers.utils import logging as hf_logging

    if family not in TINY_FAMILIES:
        raise ValueError(f"family={family!r} has no tiny encoder: use one of {', '.join(TINY_FAMILIES)}")
    if image_size % patch_size:
        raise ValueError(f"patch_size={patch_size} must divide image_size={image_size}")
    s, t, p = int(image_size), int(num_frames), int(patch_size)
    vision = dict(**_TRUNK, image_size=s, patch_size=p)
    processor = None  # an image processor object, or a dict written as video_preprocessor_config.json
    if family == "timesformer":
        model = tf.TimesformerModel, tf.TimesformerConfig(**vision, num_frames=t)
    elif family == "videomae":
        # as MCG-NJU/videomae-base-finetuned-kinetics: a classifier with mean pooling and fc_norm
        model = tf.VideoMAEForVideoClassification, tf.VideoMAEConfig(**vision, num_frames=t, tubelet_size=2,
                                                                     use_mean_pooling=True, num_labels=4)
    elif family == "vivit":
        model = tf.VivitModel, tf.VivitConfig(**_TRUNK, image_size=s, num_frames=t, tubelet_size=[2, p, p])
        processor = _processor_class("VivitImageProcessor")(size={"shortest_edge": s * 256 // 224}, crop_size=_square(s))
    elif family == "clip":
        model = tf.CLIPModel, tf.CLIPConfig(text_config=_TEXT, vision_config=vision, projection_dim=32)
    elif family == "clip_vision":
        model = tf.CLIPVisionModelWithProjection, tf.CLIPVisionConfig(**vision, projection_dim=32)
    elif family == "xclip":
        # the multi-frame integration transformer works on the projected frame embeddings
        config = tf.XCLIPConfig(
            text_config=_TEXT, projection_dim=32, prompt_layers=1, prompt_num_attention_heads=2,
            prompt_projection_dropout=0.0,
            vision_config=dict(**vision, num_frames=t, mit_hidden_size=32, mit_intermediate_size=64,
                               mit_num_hidden_layers=1, mit_num_attention_heads=2))
        model = tf.XCLIPModel, config
        processor = _processor_class("VideoMAEImageProcessor")(
            size={"shortest_edge": s}, crop_size=_square(s), resample=2,
            image_mean=IMAGENET_DEFAULT_MEAN, image_std=IMAGENET_DEFAULT_STD)
    else:  # vjepa2
        model = tf.VJEPA2Model, tf.VJEPA2Config(
            crop_size=s, frames_per_clip=t, patch_size=p, tubelet_size=2, hidden_size=64, num_hidden_layers=2,
            num_attention_heads=2, mlp_ratio=2.0, pred_hidden_size=32, pred_num_hidden_layers=1,
            pred_num_attention_heads=2, num_pooler_layers=1)
        # what VJEPA2VideoProcessor(crop_size=s).save_pretrained writes (it needs torchvision)
        processor = dict(video_processor_type="VJEPA2VideoProcessor", do_resize=True,
                         size={"shortest_edge": int(s * 256 / 224)}, resample=2, do_center_crop=True,
                         crop_size=_square(s), do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                         image_mean=IMAGENET_DEFAULT_MEAN, image_std=IMAGENET_DEFAULT_STD,
                         do_convert_rgb=True, do_sample_frames=False)
    if family in ("clip", "clip_vision"):
        processor = _processor_class("CLIPImageProcessor")(size={"shortest_edge": s}, crop_size=_square(s))
    if processor is None:
        processor = _processor_class("VideoMAEImageProcessor")(size={"shortest_edge": s}, crop_size=_square(s), **K400_PREPROCESSOR)

    model_cls, config = model
    torch.manual_seed(seed)
    net = model_cls(config).eval()
    out = resolve_path(out_dir)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        net.save_pretrained(out, safe_serialization=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if isinstance(processor, dict):
        (out / "video_preprocessor_config.json").write_text(json.dumps(processor, indent=2, sort_keys=True) + "\n")
    else:
        processor.save_pretrained(out)
    return out
