"""ucf_nb: clip-level embeddings of UCF-Crime from frozen video transformers.

Data flows one way, one module (room) per step::

    dataset tree ──► index ──► clip stream ──► encoder ──► store ──► probe ──► book
    annotations       index     sampling        encoders/   store     metrics   pipeline
    locate            validate  video           (one        manifest  field     report
                                                                      linear, mil
                                                                      probe
                                preprocess       adapter              plots
                                dataset          per family)
                                          extract (index rows -> stream -> encoder -> store)

- ``annotations``  UCF-Crime's categories, split lists and temporal annotation (frame labels)
- ``locate``       find the videos under any official layout; remap an index to another root
- ``framecount``   count_video_frames: the frames a video really has (packets, else a decode);
                   frame_count_report: the containers whose own count disagreed
- ``index``        build_index / read_index: the clip index CSV (one row per clip window)
- ``validate``     validate_index: one small check per rule, a report naming rows and fixes
- ``sampling``     clip windows and uniform T-frame sampling, pure functions of frame numbers
- ``video``        open a video, decode it once in order, hand out the frames clips need
- ``preprocess``   Preprocessing as a value: spatial part in workers, normalise on the device
- ``dataset``      ClipDataset (the prototype's reference) and VideoClipStream (per video)
- ``encoders``     load_encoder / Encoder over one registered adapter per model family
- ``extract``      extract_split: one split of the index embedded into the store, resumable
- ``failures``     extraction_failures: the failed clips of a finished split, by video, with the fix
- ``shardlock``    ShardBusyError: one run per shard, a lock file with owner and heartbeat
- ``workers``      ExtractStalledError: DataLoader workers safe after OpenCV use, and their watchdog
- ``launch``       submit_extraction: each shard a SLURM array task or a local process
                   (submitit, the optional ``cluster`` extra, imported only here and in its
                   task tracking, ``tasks``)
- ``store``        per-split embedding arrays, shard writers, resume state
- ``manifest``     what was extracted, how and from what; the settings fingerprint
- ``metrics``      clip, video, per-category and frame-level AUCs (pure)
- ``field``        the field's frame protocol: 16-frame blocks, bootstrap CIs, false-alarm rate
- ``linear``       fit_probe: the linear probe (standardised, class-balanced logistic regression)
- ``probe``        run_probe (either head: metrics.json + scores), the tables comparing heads
- ``mil``          fit_mil: the weakly supervised MIL ranking head (Sultani et al. 2018)
- ``export``       export_features: per-video block features, lists and frame labels for the
                   field's training code
- ``runs``         one folder per encoder run (processed/runs/<name>/), runs compared side by side
- ``plots``        the figures the notebooks show
- ``pipeline``     the notebooks run in order with papermill, cleaned for the book
- ``report``       the book's intro page and the book build
- ``paths``        the project root; every relative path resolves from it

Helpers that are not part of the public face: ``files`` (atomic writes, lock, sha256),
``checks`` (argument checks), ``synthetic`` (test videos with frame numbers drawn into the
pixels), ``demo`` (the demo dataset and encoders) and ``tiny`` (tiny random encoders of every
family) are imported from their modules.

The top-level names are every public module's ``__all__``, imported lazily: ``import ucf_nb``
is cheap and reading an index does not import torch.
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

# the modules whose __all__ make up the public face, in data-flow order
PUBLIC_MODULES = ("paths", "annotations", "locate", "framecount", "index", "validate", "sampling", "video", "preprocess",
                  "dataset", "encoders", "extract", "failures", "shardlock", "workers", "launch", "store",
                  "manifest", "metrics", "field", "linear", "probe", "mil", "export",
                  "runs", "plots",
                  "pipeline", "report")

_EXPORTS: dict[str, str] | None = None  # public name -> module, read from the sources on first use


def _module_all(module: str) -> list[str]:
    """The names a module lists in ``__all__`` (``=`` and ``+=`` of literal lists), read from
    its source without importing it."""
    here = Path(__file__).resolve().parent
    path = here / module / "__init__.py" if (here / module).is_dir() else here / f"{module}.py"
    names: list[str] = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
                value = ast.literal_eval(node.value)
                names = names + list(value) if isinstance(node, ast.AugAssign) else list(value)
    return names


def _exports() -> dict[str, str]:
    global _EXPORTS
    if _EXPORTS is None:
        table: dict[str, str] = {}
        for module in PUBLIC_MODULES:
            for name in _module_all(module):
                if name in table and table[name] != module:
                    raise ImportError(f"ucf_nb.{module} and ucf_nb.{table[name]} both export {name!r}: "
                                      "a public name has one home")
                table[name] = module
        _EXPORTS = table
    return _EXPORTS


def __getattr__(name: str) -> Any:
    if name == "__all__":  # read on demand: `from ucf_nb import *`, help(ucf_nb)
        return sorted(_exports())
    module = _exports().get(name) if not name.startswith("__") else None
    if module is None:
        raise AttributeError(f"module 'ucf_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_exports()))
