"""CLIP image encoder applied to every frame: the mean over a clip's frames of the image
embedding (``visual_projection`` of the pooled CLS token), the feature family of the best
published UCF-Crime results (e.g. VadCLIP on ``openai/clip-vit-base-patch16``).

Serves a full ``clip`` checkpoint (only its vision tower and projection are loaded, the
text tower is skipped) and a vision-only ``clip_vision_model`` one saved from
``CLIPVisionModelWithProjection``. A vision-only checkpoint without ``visual_projection``
(saved from ``CLIPVisionModel``) is refused: its image embedding would be random weights.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from .base import EncoderAdapter, TinyModel, register_adapter
from .tiny import TEXT, processor_class, square, vision_trunk

__all__ = ["ClipFramesAdapter"]


@register_adapter
class ClipFramesAdapter(EncoderAdapter):
    """``CLIPVisionModelWithProjection`` on (B * T, 3, S, S), ``image_embeds`` averaged over T."""

    family = "clip"
    model_types = ("clip", "clip_vision_model")
    default_T = 8
    default_img_size = 224
    poolings = ("mean",)

    def tiny_variants(self) -> tuple[str, ...]:
        return ("clip", "clip_vision")  # the full CLIPModel and the vision-only model

    def load_model(self, source: str, config: Any, **kwargs: Any) -> torch.nn.Module:
        from transformers import CLIPVisionModelWithProjection

        if config.model_type == "clip":
            # the full model's vision_model.* and visual_projection.* keys are this class's own
            vision = copy.deepcopy(config.vision_config)
            vision.projection_dim = config.projection_dim
            vision._commit_hash = getattr(config, "_commit_hash", None)  # the revision in the manifest
            config = vision
        model, loading = CLIPVisionModelWithProjection.from_pretrained(  # type: ignore[misc]  # (model, info)
            source, config=config, trust_remote_code=False, output_loading_info=True, **kwargs
        )
        missing = [
            k for k in loading.get("missing_keys", ()) if k.split(".")[0] in ("visual_projection", "vision_model")
        ]
        if missing:
            raise ValueError(
                f"checkpoint {source!r} has no weights for {', '.join(sorted(missing)[:3])}: its image "
                "embedding would be random; a vision-only checkpoint must be saved from "
                "CLIPVisionModelWithProjection (not CLIPVisionModel), or pass the full clip checkpoint"
            )
        return model

    def embed(self, model: torch.nn.Module, pixel_values: torch.Tensor, pooling: str) -> torch.Tensor:
        b, t = pixel_values.shape[:2]
        frames = pixel_values.reshape(b * t, *pixel_values.shape[2:])
        image_embeds = model(pixel_values=frames).image_embeds.float()
        return image_embeds.view(b, t, -1).mean(dim=1)

    def embedding_dim(self, model: torch.nn.Module, pooling: str) -> int:
        return int(model.config.projection_dim)

    def tiny_config(self, variant: str, *, num_frames: int, image_size: int, patch_size: int) -> TinyModel:
        """The tiny test model: ``clip`` (the full ``CLIPModel``) or ``clip_vision``
        (``CLIPVisionModelWithProjection``)."""
        import transformers as tf

        vision = vision_trunk(image_size, patch_size)
        processor = processor_class("CLIPImageProcessor")(
            size={"shortest_edge": image_size}, crop_size=square(image_size)
        )
        if variant == "clip":
            return TinyModel(
                tf.CLIPModel, tf.CLIPConfig(text_config=TEXT, vision_config=vision, projection_dim=32), processor
            )
        return TinyModel(tf.CLIPVisionModelWithProjection, tf.CLIPVisionConfig(**vision, projection_dim=32), processor)
