"""Frozen video encoders: the generic :func:`load_encoder` / :class:`Encoder` and one
adapter per model family (``base.py`` holds the seam; importing this package registers
every adapter).

To add a family: a module here with an :class:`EncoderAdapter` subclass decorated with
:func:`register_adapter`, imported below, plus its tests. Nothing else changes.
"""

from __future__ import annotations

from . import clip_frames, timesformer, videomae, vivit, vjepa2, xclip  # noqa: F401  (register the adapters)
from .base import EncoderAdapter, adapter_for, families, register_adapter
from .encoder import Encoder, EncoderLoadError, load_encoder, resolve_device, resolve_precision

__all__ = [
    "Encoder",
    "load_encoder",
    "EncoderLoadError",
    "resolve_device",
    "resolve_precision",
    "EncoderAdapter",
    "register_adapter",
    "adapter_for",
    "families",
]
