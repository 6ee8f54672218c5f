"""Tiny, seeded, randomly initialised encoders of every family, saved with ``save_pretrained``.

Each is the family's own Hugging Face class built from a small config (64-wide, 2 layers,
32-pixel patches) and saved as safetensors next to the processor config the real checkpoint
ships (same fields, same kind of file), so it loads through exactly the path of the real
checkpoint: ``AutoConfig`` -> the family's adapter -> ``from_pretrained``. The demo and the
tests use them; their embeddings mean nothing.

Each family's adapter describes its tiny model (:meth:`ucf_nb.encoders.EncoderAdapter.tiny_config`,
in the family's module, from the building blocks here); :func:`make_tiny_encoder` builds and
saves it, and :func:`tiny_families` lists them from the registry (``clip`` serves two:
``clip``, the full ``CLIPModel``, and ``clip_vision``, ``CLIPVisionModelWithProjection``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..paths import resolve_path
from .base import EncoderAdapter, adapters

__all__ = ["make_tiny_encoder", "tiny_families"]

IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406]
IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225]

# A k400-style preprocessor (TimeSformer, VideoMAE): shorter side to the image size, centre
# crop, mean/std 0.45/0.225, bilinear, as the real TimeSformer checkpoint ships it.
K400_PREPROCESSOR: dict[str, Any] = dict(
    do_resize=True,
    resample=2,
    do_center_crop=True,
    do_rescale=True,
    rescale_factor=1 / 255,
    do_normalize=True,
    image_mean=[0.45, 0.45, 0.45],
    image_std=[0.225, 0.225, 0.225],
)

TRUNK: dict[str, Any] = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
TEXT: dict[str, Any] = dict(
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    vocab_size=64,
    max_position_embeddings=16,
    pad_token_id=1,
    bos_token_id=62,
    eos_token_id=63,
)


def vision_trunk(image_size: int, patch_size: int) -> dict[str, Any]:
    """The tiny vision trunk's config fields (:data:`TRUNK`) for square frames of ``image_size``
    pixels cut into ``patch_size`` patches."""
    return dict(**TRUNK, image_size=image_size, patch_size=patch_size)


def square(n: int) -> dict[str, int]:
    """A processor's square size: ``{"height": n, "width": n}``."""
    return {"height": int(n), "width": int(n)}


def processor_class(name: str) -> Any:
    """transformers' PIL-backed image processor ``name`` (it saves the same config as the
    torchvision one, which transformers 5 would otherwise ask for and warn about)."""
    import transformers as tf

    return getattr(tf, f"{name}Pil", None) or getattr(tf, name)


def k400_processor(image_size: int) -> Any:
    """The k400-style image processor (:data:`K400_PREPROCESSOR`) for ``image_size`` pixels."""
    return processor_class("VideoMAEImageProcessor")(
        size={"shortest_edge": image_size}, crop_size=square(image_size), **K400_PREPROCESSOR
    )


def _by_variant() -> dict[str, EncoderAdapter]:
    return {variant: adapter for adapter in adapters() for variant in adapter.tiny_variants()}


def tiny_families() -> tuple[str, ...]:
    """Names of the tiny encoders, one or more per registered family (its adapter's
    ``tiny_variants``), in family order."""
    return tuple(_by_variant())


def __getattr__(name: str) -> Any:
    if name == "TINY_FAMILIES":  # read from the registry when asked: the families register on import
        return tiny_families()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_tiny_encoder(
    out_dir: str | os.PathLike,
    family: str = "timesformer",
    *,
    seed: int = 0,
    num_frames: int = 8,
    image_size: int = 224,
    patch_size: int = 32,
) -> Path:
    """Save a tiny random encoder of ``family`` (and its processor config) into ``out_dir``.

    Parameters
    ----------
    out_dir : str or path-like
        Folder to write (relative paths resolve against the project root).
    family : str
        One of :func:`tiny_families`.
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
    from transformers.utils import logging as hf_logging

    adapter = _by_variant().get(family)
    if adapter is None:
        raise ValueError(f"family={family!r} has no tiny encoder: use one of {', '.join(tiny_families())}")
    if image_size % patch_size:
        raise ValueError(f"patch_size={patch_size} must divide image_size={image_size}")
    tiny = adapter.tiny_config(
        family, num_frames=int(num_frames), image_size=int(image_size), patch_size=int(patch_size)
    )
    model_cls, config, processor = tiny.model_class, tiny.config, tiny.processor
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
