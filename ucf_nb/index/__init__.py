"""The clip index: from the dataset tree to one CSV row per clip window.

- ``annotations``  UCF-Crime's categories, split lists and temporal annotation (frame labels)
- ``locate``       find the videos under any official layout; remap an index to another root
- ``framecount``   count_video_frames: the frames a video really decodes (its packets where the
                   container can be trusted, else a decode); frame_count_report: what the build found
- ``build``        build_index / read_index: the clip index CSV (one row per clip window)
- ``validate``     validate_index: one small check per rule, a report naming rows and fixes

The package re-exports ``build``'s names, so ``ucf_nb.index.read_index`` (the module path of
ucf-nb 0.1) keeps working. Torch-free.
"""

from __future__ import annotations

from .build import EXTRA_COLUMNS, INDEX_COLUMNS, IndexBuildError, build_index, read_index, skipped_path

__all__ = ["INDEX_COLUMNS", "EXTRA_COLUMNS", "IndexBuildError", "build_index", "skipped_path", "read_index"]
