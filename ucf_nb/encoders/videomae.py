"""VideoMAE (tubelet embedding, no CLS token): the mean of the tokens of ``last_hidden_state``,
through the checkpoint's ``fc_norm`` when it has one.

A fine-tuned classifier such as ``MCG-NJU/videomae-base-finetuned-kinetics``
(``VideoMAEForVideoClassification`` with ``use_mean_pooling``) has no final layer norm in
its trunk: it averages the tokens and normalises the average with ``fc_norm``, the vector
its classifier reads. That vector is the embedding here (the classifier itself is not
used). Other checkpoints (pre-trained ``VideoMAEForPreTraining``, or a bare
``VideoMAEModel``) give the mean of their tokens. The position table is built for exactly
``config.num_frames`` frames of ``config.image_size`` pixels, so T is fixed.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import EncoderAdapter, TinyModel, register_adapter
from .shapes import check_frames
from .tiny import k400_processor, vision_trunk

__all__ = ["VideoMAEAdapter"]


def _has_fc_norm(config: Any) -> bool:
    archs = getattr(config, "architectures", None) or ()
    return bool(getattr(config, "use_mean_pooling", False)) and "VideoMAEForVideoClassification" in archs


@register_adapter
class VideoMAEAdapter(EncoderAdapter):
    """``VideoMAEModel`` (or the classifier, for its ``fc_norm``); ``pixel_values`` (B, T, 3, S, S);
    every token is a patch token."""

    family = "videomae"
    model_types = ("videomae",)
    default_T = 16
    default_img_size = 224
    poolings = ("mean",)

    def load_model(self, source: str, config: Any, **kwargs: Any) -> torch.nn.Module:
        from transformers import VideoMAEForVideoClassification, VideoMAEModel

        if _has_fc_norm(config):
            model, loading = VideoMAEForVideoClassification.from_pretrained(  # type: ignore[misc]  # (model, info)
                source, config=config, trust_remote_code=False, output_loading_info=True, **kwargs
            )
            missing = [k for k in loading.get("missing_keys", ()) if k.startswith("fc_norm")]
            if missing:
                raise ValueError(
                    f"checkpoint {source!r} says it is a VideoMAEForVideoClassification with mean "
                    f"pooling but has no weights for {', '.join(sorted(missing))}: its embedding would "
                    "be normalised with random weights; fix or re-save the checkpoint"
                )
            return model
        return VideoMAEModel.from_pretrained(source, config=config, trust_remote_code=False, **kwargs)

    def check_pooling(self, pooling: str, checkpoint: str) -> None:
        if pooling == "cls":
            raise ValueError(
                f"pooling='cls' is refused for {checkpoint!r}: {self.family} has no CLS token, use pooling='mean'"
            )
        super().check_pooling(pooling, checkpoint)

    def clip_length(self, config: Any) -> int:
        return int(config.num_frames)  # the frames its position (or time) embeddings were learnt for

    def embed(self, model: torch.nn.Module, pixel_values: torch.Tensor, pooling: str) -> torch.Tensor:
        check_frames(self.family, pixel_values, model.config.num_frames, model.config.image_size)
        fc_norm = getattr(model, "fc_norm", None)
        trunk = model.videomae if fc_norm is not None else model
        pooled = trunk(pixel_values=pixel_values).last_hidden_state.mean(dim=1)
        if fc_norm is not None:
            pooled = fc_norm(pooled)
        return pooled.float()

    def info(self, model: torch.nn.Module) -> dict[str, Any]:
        return {"fc_norm": getattr(model, "fc_norm", None) is not None}

    def tiny_config(self, variant: str, *, num_frames: int, image_size: int, patch_size: int) -> TinyModel:
        """The tiny test model (see :meth:`EncoderAdapter.tiny_config`)."""
        import transformers as tf

        # as MCG-NJU/videomae-base-finetuned-kinetics: a classifier with mean pooling and fc_norm
        config = tf.VideoMAEConfig(
            **vision_trunk(image_size, patch_size),
            num_frames=num_frames,
            tubelet_size=2,
            use_mean_pooling=True,
            num_labels=4,
        )  # type: ignore[call-arg]  # a PretrainedConfig kwarg
        return TinyModel(tf.VideoMAEForVideoClassification, config, k400_processor(image_size))
