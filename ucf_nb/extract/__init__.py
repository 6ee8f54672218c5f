"""Extraction: index rows -> clip stream -> encoder -> store, resumable, sharded.

- ``split``     extract_split: one split of the index embedded into the store
- ``failures``  extraction_failures: the failed clips of a finished split, by video, with the fix
- ``launch``    submit_extraction: each shard a SLURM array task or a local process (submitit,
                the optional ``cluster`` extra, imported only there and in ``tasks``)
- ``tasks``     submits the tasks and tells what became of each (not public)

The package re-exports ``split``'s names, so ``ucf_nb.extract.extract_split`` (the module path
of ucf-nb 0.1) keeps working. Importing it does not import torch.
"""

from __future__ import annotations

from .split import StoreWriteError, extract_split

__all__ = ["extract_split", "StoreWriteError"]
