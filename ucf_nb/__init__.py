"""ucf_nb: clip-level embeddings of UCF-Crime from frozen video transformers.

Data flows one way, one stage folder per step, one module (room) per concern in it::

    dataset tree ──► index/ ──────► video/ ──────► encoders/ ────► store/ ──────► evaluate/ ───► report/
                     annotations    sampling       base (seam)     arrays         metrics        pipeline
                     locate         decode         one adapter     manifest       field          book (CLI)
                     build          preprocess     per family      shardlock      linear, mil    plots
                     validate       dataset        tiny                           heads (seam)
                                                                                  probe, runs
                                    workers                                       export
                     extract/: split (index rows -> clip stream -> encoder -> store), failures,
                               launch and tasks (every shard a SLURM array task or a local process)
                     demo/: make (the demo dataset and encoders), synthetic (test videos)

- ``index/``     annotations (categories, split lists, temporal annotation), locate (find the
                 videos under any official layout), framecount (count_video_frames: the frames
                 that really decode; frame_count_report: containers whose own count lied), build
                 (build_index / read_index: one CSV row per clip window), settings
                 (IndexSettings: build_index's options as one value), validate
                 (validate_index: one check per rule)
- ``video/``     sampling (clip windows, T-frame sampling), decode (open, decode once in order),
                 preprocess (Preprocessing), dataset (ClipDataset, VideoClipStream), workers
                 (DataLoader workers safe after OpenCV use, and their watchdog)
- ``encoders/``  load_encoder / Encoder over one registered adapter per model family; tiny
                 (tiny random encoders of every family, for tests and the demo)
- ``store/``     arrays (per-split embeddings, shard writers, resume), manifest (fingerprint and
                 provenance), shardlock (one run per shard)
- ``extract/``   split (extract_split, resumable), settings (ExtractSettings: its options as one
                 value), failures (extraction_failures), launch
                 (submit_extraction; submitit, the optional ``cluster`` extra) and tasks
- ``evaluate/``  metrics (pure AUCs), field (the field's frame protocol), linear (fit_probe), mil
                 (fit_mil, MILParams), heads (the head registry: ProbeHead, register_head, linear
                 and MIL), probe (run_probe for any registered head), export (export_features for the
                 field's code), runs (one folder per encoder run, runs compared)
- ``report/``    pipeline (notebooks run in order with papermill), book (intro page, book build,
                 the command line), plots (every figure the notebooks show)
- ``demo/``      make (the demo dataset and encoders: ``python -m ucf_nb.demo``), synthetic
- ground: ``paths`` (the project root; every relative path resolves from it), ``files`` (atomic
  writes, lock, sha256), ``checks`` (argument checks, UcfNbError), ``progress`` (progress bars), ``_compat``
  (renamed parameters and moved modules), ``__main__`` (``python -m ucf_nb`` / ``ucf-nb``)

The top-level names (``__all__``) are what a notebook or a script calls, the building blocks
people compose and the exceptions; everything else is imported from its stage
(``from ucf_nb.store import embedding_stats``). They are bound lazily: ``import ucf_nb`` is cheap
and reading an index does not import torch; type checkers and editors follow the imports in the
``TYPE_CHECKING`` block. The module paths of ucf-nb 0.1 (``ucf_nb.metrics``, ``ucf_nb.launch``...)
and the top-level names it had beyond these still work, with a FutureWarning naming the new
place, until ucf-nb 0.3.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from ._compat import REMOVED_IN, install_moved_module_finder

__version__ = "0.1.0"

__all__ = [
    # ucf_nb.paths
    "project_root",
    "resolve_path",
    "display_path",
    # ucf_nb.index.build
    "build_index",
    "read_index",
    "IndexBuildError",
    # ucf_nb.index.settings
    "IndexSettings",
    # ucf_nb.index.validate
    "validate_index",
    "IndexValidationError",
    # ucf_nb.index.locate
    "remap_video_root",
    # ucf_nb.index.framecount
    "count_video_frames",
    "frame_count_report",
    # ucf_nb.index.annotations
    "read_temporal_annotation",
    "frame_labels",
    # ucf_nb.video.sampling
    "uniform_sample_indices",
    "clip_windows",
    # ucf_nb.video.decode
    "seek_is_exact",
    "VideoError",
    # ucf_nb.video.preprocess
    "Preprocessing",
    # ucf_nb.video.dataset
    "ClipDataset",
    "VideoClipStream",
    # ucf_nb.video.workers
    "ExtractStalledError",
    # ucf_nb.encoders.encoder
    "load_encoder",
    "Encoder",
    "EncoderLoadError",
    # ucf_nb.encoders.base
    "EncoderAdapter",
    "register_adapter",
    "families",
    # ucf_nb.checks
    "UcfNbError",
    # ucf_nb.extract.split
    "extract_split",
    "StoreWriteError",
    # ucf_nb.extract.settings
    "ExtractSettings",
    # ucf_nb.extract.failures
    "extraction_failures",
    # ucf_nb.extract.launch
    "submit_extraction",
    "ShardJob",
    "ExtractionFailedError",
    # ucf_nb.store.arrays
    "load_embeddings",
    "ExtractMismatchError",
    # ucf_nb.store.manifest
    "read_manifest",
    # ucf_nb.store.shardlock
    "ShardBusyError",
    # ucf_nb.evaluate.linear
    "fit_probe",
    "LinearProbe",
    # ucf_nb.evaluate.mil
    "fit_mil",
    "MILHead",
    "MILParams",
    # ucf_nb.evaluate.heads
    "ProbeHead",
    "register_head",
    "heads",
    "get_head",
    # ucf_nb.evaluate.probe
    "run_probe",
    "ProbeResult",
    "compare_heads",
    "probe_warnings",
    # ucf_nb.evaluate.metrics
    "frame_scores",
    # ucf_nb.evaluate.export
    "export_features",
    # ucf_nb.evaluate.runs
    "compare_runs",
    "ranked_table",
    "RankedTable",
    "run_dir",
    "run_encoder",
    "run_settings",
    "roc_points",
    "per_category_table",
    "literature_note",
    # ucf_nb.report.book
    "run_report",
    "build_book",
]

if TYPE_CHECKING:  # what type checkers and editors follow; at run time, the lazy __getattr__ below
    # in stage order, as _WHERE_BY_MODULE below
    # isort: off
    from .paths import display_path, project_root, resolve_path
    from .index.build import build_index, IndexBuildError, read_index
    from .index.validate import IndexValidationError, validate_index
    from .index.locate import remap_video_root
    from .index.framecount import count_video_frames, frame_count_report
    from .index.annotations import frame_labels, read_temporal_annotation
    from .video.sampling import clip_windows, uniform_sample_indices
    from .video.decode import seek_is_exact, VideoError
    from .video.preprocess import Preprocessing
    from .video.dataset import ClipDataset, VideoClipStream
    from .video.workers import ExtractStalledError
    from .encoders.encoder import Encoder, EncoderLoadError, load_encoder
    from .encoders.base import EncoderAdapter, families, register_adapter
    from .checks import UcfNbError
    from .extract.split import extract_split, StoreWriteError
    from .extract.settings import ExtractSettings
    from .index.settings import IndexSettings
    from .extract.failures import extraction_failures
    from .extract.launch import ExtractionFailedError, ShardJob, submit_extraction
    from .store.arrays import ExtractMismatchError, load_embeddings
    from .store.manifest import read_manifest
    from .store.shardlock import ShardBusyError
    from .evaluate.linear import fit_probe, LinearProbe
    from .evaluate.mil import fit_mil, MILHead, MILParams
    from .evaluate.heads import get_head, heads, ProbeHead, register_head
    from .evaluate.probe import compare_heads, probe_warnings, ProbeResult, run_probe
    from .evaluate.metrics import frame_scores
    from .evaluate.export import export_features
    from .evaluate.runs import (
        compare_runs,
        literature_note,
        per_category_table,
        RankedTable,
        ranked_table,
        roc_points,
        run_dir,
        run_encoder,
        run_settings,
    )
    from .report.book import build_book, run_report
    # isort: on

# public name -> the module (relative to ucf_nb) that defines it
_WHERE_BY_MODULE: dict[str, tuple[str, ...]] = {
    ".paths": ("project_root", "resolve_path", "display_path"),
    ".index.build": ("build_index", "read_index", "IndexBuildError"),
    ".index.validate": ("validate_index", "IndexValidationError"),
    ".index.locate": ("remap_video_root",),
    ".index.framecount": ("count_video_frames", "frame_count_report"),
    ".index.annotations": ("read_temporal_annotation", "frame_labels"),
    ".video.sampling": ("uniform_sample_indices", "clip_windows"),
    ".video.decode": ("seek_is_exact", "VideoError"),
    ".video.preprocess": ("Preprocessing",),
    ".video.dataset": ("ClipDataset", "VideoClipStream"),
    ".video.workers": ("ExtractStalledError",),
    ".encoders.encoder": ("load_encoder", "Encoder", "EncoderLoadError"),
    ".encoders.base": ("EncoderAdapter", "register_adapter", "families"),
    ".checks": ("UcfNbError",),
    ".extract.split": ("extract_split", "StoreWriteError"),
    ".extract.settings": ("ExtractSettings",),
    ".index.settings": ("IndexSettings",),
    ".extract.failures": ("extraction_failures",),
    ".extract.launch": ("submit_extraction", "ShardJob", "ExtractionFailedError"),
    ".store.arrays": ("load_embeddings", "ExtractMismatchError"),
    ".store.manifest": ("read_manifest",),
    ".store.shardlock": ("ShardBusyError",),
    ".evaluate.linear": ("fit_probe", "LinearProbe"),
    ".evaluate.mil": ("fit_mil", "MILHead", "MILParams"),
    ".evaluate.heads": ("ProbeHead", "register_head", "heads", "get_head"),
    ".evaluate.probe": ("run_probe", "ProbeResult", "compare_heads", "probe_warnings"),
    ".evaluate.metrics": ("frame_scores",),
    ".evaluate.export": ("export_features",),
    ".evaluate.runs": (
        "compare_runs",
        "ranked_table",
        "RankedTable",
        "run_dir",
        "run_encoder",
        "run_settings",
        "roc_points",
        "per_category_table",
        "literature_note",
    ),
    ".report.book": ("run_report", "build_book"),
}
_WHERE: dict[str, str] = {name: module for module, names in _WHERE_BY_MODULE.items() for name in names}

# top-level names of ucf-nb 0.1 that are no longer at the top: name -> its module, relative to
# ucf_nb (still importable from there; from the top with a FutureWarning until REMOVED_IN)
_DROPPED_BY_MODULE: dict[str, tuple[str, ...]] = {
    ".index.annotations": ("SPLITS", "ANOMALY_CATEGORIES", "CATEGORIES", "VideoAnnotation"),
    ".index.build": ("INDEX_COLUMNS", "EXTRA_COLUMNS", "skipped_path"),
    ".index.validate": ("IndexCheck", "IndexReport"),
    ".video.decode": ("VideoInfo", "probe_video", "iter_video_frames", "read_frame", "open_video", "captured_stderr"),
    ".video.preprocess": ("IMAGENET_MEAN", "IMAGENET_STD", "RESIZE_MODES", "INTERPOLATIONS", "PREPROCESSING_KINDS"),
    ".video.dataset": ("collate_clips",),
    ".encoders": ("resolve_device", "resolve_precision", "adapter_for"),
    ".extract.failures": ("ExtractionFailures",),
    ".extract.launch": ("parse_slurm_options",),
    ".store.arrays": ("EmbeddingStore", "ShardWriter", "embedding_stats", "shard_bounds"),
    ".store.manifest": ("package_versions",),
    ".evaluate.metrics": (
        "clip_metrics",
        "per_category_auc",
        "video_auc",
        "video_table",
        "frame_level_auc",
        "annotation_coverage",
        "evaluate_probe",
        "FRAME_KEYS",
    ),
    ".evaluate.field": (
        "FIELD_BLOCK",
        "CONVENTIONS",
        "FrameTable",
        "field_frame_count",
        "frame_table",
        "weighted_auc",
        "auc_bootstrap_ci",
        "false_alarm_rate",
        "frame_metrics",
    ),
    ".evaluate.linear": ("DEFAULT_CS",),
    ".evaluate.probe": ("METRIC_KEYS", "HEADS", "metrics_frame"),
    ".evaluate.mil": (
        "N_SEGMENTS",
        "segment_bag",
        "mil_ranking_loss",
        "smoothness_loss",
        "sparsity_loss",
        "mil_objective",
    ),
    ".evaluate.export": ("BLOCK", "block_features"),
    ".evaluate.runs": ("RUNS_DIR", "HEADLINE_METRICS", "encoder_defaults", "run_name", "find_runs", "read_run"),
    ".report.plots": (
        "plot_clips_per_split",
        "plot_clips_per_category",
        "plot_video_lengths",
        "plot_embedding_projection",
        "plot_roc_curves",
        "plot_pr_curves",
        "plot_per_category_auc",
        "plot_score_timelines",
        "plot_compare_roc",
        "plot_category_heatmap",
    ),
    ".report.pipeline": (
        "Step",
        "demo_parameters",
        "demo_extra_runs",
        "pipeline_steps",
        "run_notebooks",
        "run_with_extra_runs",
        "main_run_dir",
        "clean_notebook",
        "notebook_problems",
    ),
    ".report.book": ("write_intro", "write_intro_file"),
}
_DROPPED: dict[str, str] = {name: module for module, names in _DROPPED_BY_MODULE.items() for name in names}

install_moved_module_finder()  # the module paths of ucf-nb 0.1 (ucf_nb.metrics...), see _compat


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        module = _DROPPED.get(name)
        if module is None:
            raise AttributeError(f"module 'ucf_nb' has no attribute {name!r}")
        warnings.warn(
            f"ucf_nb.{name} is no longer a top-level name (ucf-nb 0.2): import it from "
            f"ucf_nb{module} (ucf_nb.{name} is removed in ucf-nb {REMOVED_IN}).",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module, __name__), name)
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
