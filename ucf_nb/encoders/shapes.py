"""Input checks shared by families whose position embeddings fix the clip's shape."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["check_frames"]


def check_frames(family: str, pixel_values: torch.Tensor, num_frames: int | None, image_size: Any) -> None:
    """Raise ValueError when clips (B, T, 3, S, S) do not have the ``num_frames`` frames of
    ``image_size`` pixels a family's position embeddings were learnt for (None: any)."""
    t, h, w = pixel_values.shape[1], pixel_values.shape[-2], pixel_values.shape[-1]
    if num_frames is not None and t != int(num_frames):
        raise ValueError(
            f"{family} takes clips of exactly T={int(num_frames)} frames (config.num_frames; its "
            f"position embeddings are learnt for that many), got T={t}: pass T={int(num_frames)}"
        )
    if image_size is not None:
        side = image_size if isinstance(image_size, int) else tuple(image_size)
        hw = (side, side) if isinstance(side, int) else side
        if (h, w) != tuple(int(v) for v in hw):
            raise ValueError(
                f"{family} takes frames of {hw[0]}x{hw[1]} pixels (config.image_size), got "
                f"{h}x{w}: pass img_size={hw[0]}"
            )
