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
from .base import EncoderAdapter, TinyModel, register_adapter
from .tiny import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, square

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
            raise ValueError(
                f"{self.family} groups frames by tubelet_size={tubelet}: T must be a multiple of "
                f"{tubelet}, got T={pixel_values.shape[1]}"
            )
        out = model(pixel_values_videos=pixel_values, skip_predictor=True)
        return out.last_hidden_state.float().mean(dim=1)

    def preprocessing(self, source: str, img_size: int | None):
        prep = Preprocessing.from_pretrained(source)
        if prep.resize == "shortest_edge" and prep.crop_size is not None:
            side = int(prep.crop_size * 256 / 224)  # VJEPA2VideoProcessor.__init__ overrides size so
            if side != prep.size:
                prep = dataclasses.replace(prep, size=side)
        return prep

    def tiny_config(self, variant: str, *, num_frames: int, image_size: int, patch_size: int) -> TinyModel:
        """The tiny test model (see :meth:`EncoderAdapter.tiny_config`)."""
        import transformers as tf

        s = image_size
        config = tf.VJEPA2Config(
            crop_size=s,
            frames_per_clip=num_frames,
            patch_size=patch_size,
            tubelet_size=2,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            mlp_ratio=2.0,
            pred_hidden_size=32,
            pred_num_hidden_layers=1,
            pred_num_attention_heads=2,
            num_pooler_layers=1,
        )
        # what VJEPA2VideoProcessor(crop_size=s).save_pretrained writes (it needs torchvision)
        processor = dict(
            video_processor_type="VJEPA2VideoProcessor",
            do_resize=True,
            size={"shortest_edge": int(s * 256 / 224)},
            resample=2,
            do_center_crop=True,
            crop_size=square(s),
            do_rescale=True,
            rescale_factor=1 / 255,
            do_normalize=True,
            image_mean=IMAGENET_DEFAULT_MEAN,
            image_std=IMAGENET_DEFAULT_STD,
            do_convert_rgb=True,
            do_sample_frames=False,
        )
        return TinyModel(tf.VJEPA2Model, config, processor)
