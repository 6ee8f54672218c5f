"""V-JEPA 2: the mean of the encoder's tokens (the predictor is not run).

``VJEPA2Model`` takes ``pixel_values_videos`` (B, T, 3, S, S); its tokens are 3-D patches
of ``tubelet_size`` frames (2) by ``patch_size`` pixels with rotary positions, so T need
only be a multiple of ``tubelet_size``. A classification checkpoint such as
``facebook/vjepa2-vitl-fpc16-256-ssv2`` loads its encoder (the attentive classifier head is
not used). Its processor (``video_preprocessor_config.json``, a torchvision video processor)
resizes the shorter side to ``crop_size * 256 / 224`` whatever ``size`` says, then centre
crops ``crop_size``: :meth:`VJepa2Adapter.preprocessing` does the same.
"""
from __future__ import annotations

import dataclasses

import torch

from ..video.preprocess import Preprocessing
from .base import EncoderAdapter, register_adapter

__all__ = ["VJepa2Adapter"]


@register_adapter
class VJepa2Adapter(EncoderAdapter):
    """``VJEPA2Model`` encoder, ``skip_predictor=True``; every token is a patch token."""

    family = "vjepa2"
    model_types = ("vjepa2",)
    default_T = 16
    default_img_size = 256
    poolings = ("mean",)

    def embed(self, model: torch.nn.Module, pixel_values: torch.Tensor, pooling: str) -> torch.Tensor:
        tubelet = int(model.config.tubelet_size)
        if pixel_values.shape[1] % tubelet:
            raise ValueError(f"{self.family} groups frames by tubelet_size={tubelet}: T must be a multiple of "
                             f"{tubelet}, got T={pixel_values.shape[1]}")
        out = model(pixel_values_videos=pixel_values, skip_predictor=True)
        return out.last_hidden_state.float().mean(dim=1)

    def preprocessing(self, source: str, img_size: int | None):
        prep = Preprocessing.from_pretrained(source)
        if prep.resize == "shortest_edge" and prep.crop_size is not None:
            side = int(prep.crop_size * 256 / 224)  # VJEPA2VideoProcessor.__init__ overrides size so
            if side != prep.size:
                prep = dataclasses.replace(prep, size=side)
        return prep
