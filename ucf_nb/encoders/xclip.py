"""X-CLIP: the model's video embedding (``XCLIPModel.get_video_features``).

Each frame goes through the CLIP-style vision tower and ``visual_projection``; the
multi-frame integration transformer (MIT) mixes the ``T`` frame embeddings and averages
them. The MIT's position embedding is learnt for exactly ``vision_config.num_frames``
frames (8 for ``microsoft/xclip-base-patch32``), so T is fixed. The text tower is loaded
with the model (``XCLIPModel`` has no vision-only class) and never called.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import EncoderAdapter, TinyModel, register_adapter
from .shapes import check_frames
from .tiny import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, TEXT, processor_class, square, vision_trunk

__all__ = ["XClipAdapter"]


@register_adapter
class XClipAdapter(EncoderAdapter):
    """``XCLIPModel``; ``pixel_values`` (B, T, 3, S, S) -> video embedding (B, projection_dim)."""

    family = "xclip"
    model_types = ("xclip",)
    default_T = 8
    default_img_size = 224
    poolings = ("video",)

    def clip_length(self, config: Any) -> int:
        return int(config.vision_config.num_frames)  # the frames its position (or time) embeddings were learnt for

    def embed(self, model: torch.nn.Module, pixel_values: torch.Tensor, pooling: str) -> torch.Tensor:
        vision = model.config.vision_config
        check_frames(self.family, pixel_values, vision.num_frames, vision.image_size)
        out = model.get_video_features(pixel_values=pixel_values)
        # transformers 5 returns the MIT's output (pooler_output), earlier releases the tensor
        video = out if isinstance(out, torch.Tensor) else out.pooler_output
        return video.float()

    def embedding_dim(self, model: torch.nn.Module, pooling: str) -> int:
        return int(model.config.projection_dim)

    def tiny_config(self, variant: str, *, num_frames: int, image_size: int, patch_size: int) -> TinyModel:
        """The tiny test model (see :meth:`EncoderAdapter.tiny_config`)."""
        import transformers as tf

        # the multi-frame integration transformer works on the projected frame embeddings
        config = tf.XCLIPConfig(
            text_config=TEXT,
            projection_dim=32,
            prompt_layers=1,
            prompt_num_attention_heads=2,
            prompt_projection_dropout=0.0,
            vision_config=dict(
                **vision_trunk(image_size, patch_size),
                num_frames=num_frames,
                mit_hidden_size=32,
                mit_intermediate_size=64,
                mit_num_hidden_layers=1,
                mit_num_attention_heads=2,
            ),
        )
        processor = processor_class("VideoMAEImageProcessor")(
            size={"shortest_edge": image_size},
            crop_size=square(image_size),
            resample=2,
            image_mean=IMAGENET_DEFAULT_MEAN,
            image_std=IMAGENET_DEFAULT_STD,
        )
        return TinyModel(tf.XCLIPModel, config, processor)
