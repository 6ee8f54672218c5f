"""ucf_nb: clip-level embeddings of UCF-Crime from frozen video transformers.

The public API, by concern (one module each):

- ``ucf_nb.paths``       project root; every relative path resolves from it
- ``ucf_nb.sampling``    clip windows and frame sampling, pure functions of frame numbers
- ``ucf_nb.index``       build, validate and remap the clip index
- ``ucf_nb.video``       decode a video once, in order, handing out the frames clips need
- ``ucf_nb.preprocess``  preprocessing as a value (resize, crop, mean, std), with presets
- ``ucf_nb.dataset``     the map-style reference dataset and the per-video clip stream
- ``ucf_nb.encoder``     load a frozen Hugging Face video encoder and pool its tokens
- ``ucf_nb.store``       per-split embedding arrays on disk, resume state and manifest
- ``ucf_nb.extract``     index rows -> clip stream -> encoder -> store
- ``ucf_nb.launch``      extraction as SLURM job arrays or local processes (submitit, optional)
- ``ucf_nb.probe``       linear probes and the UCF-Crime metrics
- ``ucf_nb.plots``       the figures the notebooks show
- ``ucf_nb.report``      the book's intro page, written from a run's manifest and metrics
- ``ucf_nb.synthetic``   synthetic videos with frame numbers drawn into the pixels
- ``ucf_nb.demo``        the bundled demo dataset and the tiny demo encoder

Names are imported lazily, so ``import ucf_nb`` is cheap and reading an index does not
import torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # paths
    "project_root": "paths",
    "resolve_path": "paths",
    "display_path": "paths",
    # sampling
    "uniform_sample_indices": "sampling",
    "clip_windows": "sampling",
    # index
    "build_index": "index",
    "validate_index": "index",
    "remap_video_root": "index",
    "read_index": "index",
    "IndexReport": "index",
    "IndexValidationError": "index",
    "INDEX_COLUMNS": "index",
    "IndexBuildError": "index",
    "read_temporal_annotation": "index",
    "VideoAnnotation": "index",
    # video
    "VideoError": "video",
    "probe_video": "video",
    "iter_video_frames": "video",
    # preprocess
    "Preprocessing": "preprocess",
    # dataset
    "ClipDataset": "dataset",
    "VideoClipStream": "dataset",
    "collate_clips": "dataset",
    # encoder
    "Encoder": "encoder",
    "load_encoder": "encoder",
    # store
    "EmbeddingStore": "store",
    "load_embeddings": "store",
    "read_manifest": "store",
    "embedding_stats": "store",
    # extract
    "extract_split": "extract",
    # launch
    "submit_extraction": "launch",
    # probe
    "fit_probe": "probe",
    "evaluate_probe": "probe",
    "frame_level_auc": "probe",
    "frame_scores": "probe",
    "run_probe": "probe",
    "LinearProbe": "probe",
    "ProbeResult": "probe",
    # report
    "write_intro": "report",
    "run_notebooks": "report",
    "build_book": "report",
    # synthetic
    "write_video": "synthetic",
    "stamp_frame_number": "synthetic",
    "read_frame_number": "synthetic",
    # demo
    "make_demo_dataset": "demo",
    "make_demo_encoder": "demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ucf_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
