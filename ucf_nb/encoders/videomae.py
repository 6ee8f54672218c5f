"""VideoMAE (tubelet embedding, no CLS token): the mean of the tokens of ``last_hidden_state``."""
from __future__ import annotations

from typing import Any

import torch

from .base import EncoderAdapter, register_adapter

__all__ = ["VideoMAEAdapter"]


@register_adapter
class VideoMAEAdapter(EncoderAdapter):
    """``VideoMAEModel``; ``pixel_values`` (B, T, 3, S, S); every token is a patch token."""

    family = "videomae"
    model_types = ("videomae",)
    default_T = 16
    default_img_size = 224
    poolings = ("mean",)

    def load_model(self, source: str, config: Any, **kwargs: Any) -> torch.nn.Module:
        from transformers import VideoMAEModel

        return VideoMAEModel.from_pretrained(source, config=config, trust_remote_code=False, **kwargs)

    def check_pooling(self, pooling: str, checkpoint: str) -> None:
        if pooling == "cls":
            raise ValueError(f"pooling='cls' is refused for {checkpoint!r}: {self.family} has no CLS token, "
                             "use pooling='mean'")
        super().check_pooling(pooling, checkpoint)

    def embed(self, model: torch.nn.Module, pixel_values: torch.Tensor, pooling: str) -> torch.Tensor:
        hidden = model(pixel_values=pixel_values).last_hidden_state.float()
        return hidden.mean(dim=1)
