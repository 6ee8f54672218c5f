"""Where embeddings live: per-split arrays, the manifest, one run per shard.

- ``arrays``     per-split embedding arrays, shard writers, resume state, load_embeddings
- ``manifest``   what was extracted, how and from what; the settings fingerprint
- ``shardlock``  ShardBusyError: one run per shard, a lock file with owner and heartbeat

The package re-exports ``arrays``' names, so ``ucf_nb.store.load_embeddings`` (the module path
of ucf-nb 0.1) keeps working. Torch-free.
"""

from __future__ import annotations

from .arrays import EmbeddingStore, ExtractMismatchError, ShardWriter, embedding_stats, load_embeddings, shard_bounds

__all__ = [
    "EmbeddingStore",
    "ShardWriter",
    "ExtractMismatchError",
    "load_embeddings",
    "embedding_stats",
    "shard_bounds",
]
