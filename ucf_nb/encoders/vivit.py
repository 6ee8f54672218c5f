"""ViViT (factorised encoder, tubelet embedding): the CLS token of ``last_hidden_state``.

``google/vivit-b-16x2-kinetics400`` takes 32 frames of 224 x 224 pixels; its position
embeddings are learnt for exactly ``config.num_frames`` frames and ``config.image_size``
pixels, so a clip of another length or size is refused with a message naming both. Its
processor rescales pixels to [-1, 1] (``rescale_factor = 1 / 127.5`` with ``offset``) before
mean/std: :class:`ucf_nb.Preprocessing` follows it.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import EncoderAdapter, TinyModel, register_adapter
from .shapes import check_frames
from .tiny import TRUNK, processor_class, square

__all__ = ["VivitAdapter"]


@register_adapter
class VivitAdapter(EncoderAdapter):
    """``VivitModel`` (no pooler); ``pixel_values`` (B, T, 3, S, S); token 0 is a CLS token."""

    family = "vivit"
    model_types = ("vivit",)
    default_T = 32
    default_img_size = 224
    poolings = ("cls", "mean")

    def load_model(self, source: str, config: Any, **kwargs: Any) -> torch.nn.Module:
        from transformers import VivitModel

        # the pooler (dense + tanh, trained for nothing we read) is left out
        return VivitModel.from_pretrained(
            source, config=config, add_pooling_layer=False, trust_remote_code=False, **kwargs
        )

    def clip_length(self, config: Any) -> int:
        return int(config.num_frames)  # the frames its position (or time) embeddings were learnt for

    def embed(self, model: torch.nn.Module, pixel_values: torch.Tensor, pooling: str) -> torch.Tensor:
        check_frames(self.family, pixel_values, model.config.num_frames, model.config.image_size)
        hidden = model(pixel_values=pixel_values).last_hidden_state.float()
        if pooling == "cls":
            return hidden[:, 0]
        return hidden[:, 1:].mean(dim=1)  # the tubelet tokens, CLS left out

    def tiny_config(self, variant: str, *, num_frames: int, image_size: int, patch_size: int) -> TinyModel:
        """The tiny test model (see :meth:`EncoderAdapter.tiny_config`)."""
        import transformers as tf

        config = tf.VivitConfig(
            **TRUNK, image_size=image_size, num_frames=num_frames, tubelet_size=[2, patch_size, patch_size]
        )
        processor = processor_class("VivitImageProcessor")(
            size={"shortest_edge": image_size * 256 // 224}, crop_size=square(image_size)
        )
        return TinyModel(tf.VivitModel, config, processor)
