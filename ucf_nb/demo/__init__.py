"""The demo: a synthetic UCF-Crime tree and tiny local encoders of three families.

- ``make``       make_demo_dataset / make_demo_encoder; ``python -m ucf_nb.demo OUT_DIR``
- ``synthetic``  test videos with frame numbers drawn into the pixels, finished stores

Test and demo helpers: imported from here, not from ``ucf_nb``. The package re-exports
``make``'s names (and its ``main``), so ``ucf_nb.demo.make_demo_dataset`` (ucf-nb 0.1) keeps
working.
"""
from __future__ import annotations

from .make import DEMO_ENCODER_SEED, DEMO_EXTRA_FAMILIES, main, make_demo_dataset, make_demo_encoder

__all__ = ["make_demo_encoder", "make_demo_dataset", "DEMO_ENCODER_SEED", "DEMO_EXTRA_FAMILIES"]
