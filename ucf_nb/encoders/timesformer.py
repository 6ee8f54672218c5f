"""TimeSformer (divided space-time attention): CLS token, or the mean of the patch tokens.

transformers' TimeSformer has eager attention only; ``attention="sdpa"`` switches its
temporal and spatial attention to ``F.scaled_dot_product_attention`` after loading
(:mod:`ucf_nb.encoders.timesformer_sdpa`, same weights).
"""

from __future__ import annotations

from typing import Any

import torch

from .base import EncoderAdapter, TinyModel, register_adapter
from .timesformer_sdpa import set_timesformer_attention, timesformer_attention
from .tiny import k400_processor, vision_trunk

__all__ = ["TimesformerAdapter"]


@register_adapter
class TimesformerAdapter(EncoderAdapter):
    """``TimesformerModel``; ``pixel_values`` (B, T, 3, S, S); token 0 of
    ``last_hidden_state`` is a CLS token."""

    family = "timesformer"
    model_types = ("timesformer",)
    default_T = 8
    default_img_size = 224
    poolings = ("cls", "mean")

    def clip_length(self, config: Any) -> int:
        return int(config.num_frames)  # the frames its position (or time) embeddings were learnt for

    def attention_kwargs(self, attention: str) -> dict[str, Any]:
        return {}  # transformers refuses attn_implementation="sdpa" for TimeSformer: see set_attention

    def set_attention(self, model: torch.nn.Module, attention: str) -> None:
        set_timesformer_attention(model, attention)

    def attention(self, model: torch.nn.Module) -> str:
        return timesformer_attention(model)

    def embed(self, model: torch.nn.Module, pixel_values: torch.Tensor, pooling: str) -> torch.Tensor:
        hidden = model(pixel_values=pixel_values).last_hidden_state.float()
        if pooling == "cls":
            return hidden[:, 0]
        return hidden[:, 1:].mean(dim=1)  # the patch tokens, CLS left out

    def tiny_config(self, variant: str, *, num_frames: int, image_size: int, patch_size: int) -> TinyModel:
        """The tiny test model (see :meth:`EncoderAdapter.tiny_config`)."""
        import transformers as tf

        config = tf.TimesformerConfig(**vision_trunk(image_size, patch_size), num_frames=num_frames)
        return TinyModel(tf.TimesformerModel, config, k400_processor(image_size))
