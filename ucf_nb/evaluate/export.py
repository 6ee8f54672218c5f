"""Export a run's embeddings in the layout the field's training code reads (RTFM, UR-DMU, ...).

The field's code expects one feature file per video with one row per non-overlapping
16-frame block, list files naming those files, and one ground-truth array of frame labels for
the test videos concatenated in test-list order, of length ``16 x rows`` per video (its
scores are expanded with ``np.repeat(scores, 16)``). :func:`export_features` writes exactly
that from a run's clip embeddings; the layout is documented in the README ("Export for the
field's code") and in the ``export.json`` written beside the files.

Block features: block ``b`` of a video covers frames ``[16 b, 16 b + 16)``; a video of
``n_frames`` frames has ``floor(n_frames / 16)`` blocks. A block's feature is the mean of the
embeddings of the clips that cover any of its frames (``start_frame < 16 b + 16`` and
``end_frame > 16 b``); a block no clip covers (the video's tail, a failed clip) takes the
nearest clips in frames (the mean of them when several are equally near), as frame scores do
in :func:`ucf_nb.frame_scores`. Failed clips (NaN rows) are ignored; a video without any
embedded clip is left out and listed in ``export.json``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..index.annotations import read_temporal_annotation
from ..paths import display_path, resolve_path
from ..progress import progress_bar as tqdm  # widget in Jupyter, text in the book
from ..store.arrays import load_embeddings
from ..store.manifest import read_manifest

__all__ = ["BLOCK", "block_features", "export_features"]

BLOCK = 16
"""Frames per exported row."""

LAYOUTS = ("nd", "n1d")


def block_features(X: np.ndarray, start_frame: np.ndarray, end_frame: np.ndarray, n_frames: int, *,
                   block: int = BLOCK, chunk: int = 1024) -> np.ndarray:
    """Features of a video's non-overlapping ``block``-frame blocks from its clip embeddings.

    Parameters
    ----------
    X : array-like, shape (n_clips, D)
        The video's clip embeddings, all finite.
    start_frame, end_frame : array-like of int, shape (n_clips,)
        Each clip's frames, ``[start_frame, end_frame)``.
    n_frames : int
        Decoded frames of the video.
    block : int
    chunk : int
        Blocks computed at a time (memory: ``chunk x n_clips`` floats).

    Returns
    -------
    numpy.ndarray of float32, shape (n_frames // block, D)
        Row ``b``: the mean of the clips covering any frame of ``[block b, block b + block)``,
        else of the nearest clips.
    """
    X = np.asarray(X, dtype=np.float32)
    s = np.asarray(start_frame, dtype=np.int64)
    e = np.asarray(end_frame, dtype=np.int64)
    if X.ndim != 2 or len(X) == 0 or len(s) != len(X) or len(e) != len(X):
        raise ValueError(f"block_features needs X of shape (n_clips, D) with n_clips >= 1 and one "
                         f"start/end frame per clip, got X {X.shape}, {len(s)} starts, {len(e)} ends")
    nb = int(n_frames) // int(block)
    out = np.empty((nb, X.shape[1]), np.float32)
    for a in range(0, nb, chunk):
        b0 = np.arange(a, min(a + chunk, nb), dtype=np.int64)[:, None] * block    # block's first frame
        b1 = b0 + block - 1                                                       # its last frame
        # frames between the block and each clip (0 when they overlap)
        d = np.maximum(np.maximum(s[None, :] - b1, b0 - (e[None, :] - 1)), 0)
        W = (d == d.min(axis=1, keepdims=True)).astype(np.float32)
        out[a:a + len(b0)] = (W @ X) / W.sum(axis=1, keepdims=True)
    return out


def _write_npy(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr, allow_pickle=False)
    os.replace(tmp, path)


def _order(videos: pd.DataFrame) -> pd.DataFrame:
    """Anomalous videos first, then normal ones, each by name (the field's list order)."""
    return videos.assign(_normal=(videos["category"] == "Normal")).sort_values(["_normal", "video"])


def _finished_splits(man: Mapping[str, Any], source: Path) -> set[str]:
    """The splits the manifest records as complete; train and test must be among them."""
    finished = {s for s, e in (man.get("splits") or {}).items() if e and e.get("complete")}
    for need in ("train", "test"):
        if need not in finished:
            raise FileNotFoundError(f"the {need} split of {display_path(source)} is not finished: run "
                                    f"notebooks/02_extract.ipynb with split='{need}' first")
    return finished


def _export_split(source: Path, split: str, out: Path, *, layout: str, lists: dict[str, list[tuple[bool, str]]],
                  test_blocks: dict[str, int], skipped: list[dict[str, str]], progress: bool) -> int:
    """One split's videos as block features under ``out/features``; adds to ``lists``,
    ``test_blocks`` and ``skipped``; returns the embedding width D."""
    X, _, rows = load_embeddings(source, split)
    D = X.shape[1]
    pos = pd.Series(np.arange(len(rows)), index=rows.index)
    rows = rows.assign(_pos=pos.to_numpy())
    videos = _order(rows.groupby("video", sort=False).agg(category=("category", "first"),
                                                          n_frames=("n_frames", "max")).reset_index())
    groups = rows.groupby("video", sort=False)["_pos"].apply(np.asarray)
    target = "test" if split == "test" else "train"
    for v in tqdm(videos.itertuples(index=False), total=len(videos), desc=f"export {split}",
                  disable=not progress, ascii=True, mininterval=5):
        p = np.sort(groups[v.video])
        sub = rows.iloc[p]
        Xv = np.asarray(X[p], dtype=np.float32)
        ok = np.isfinite(Xv).all(axis=1)
        nb = int(v.n_frames) // BLOCK
        if not ok.any() or nb == 0:
            skipped.append({"video": v.video, "split": split,
                            "reason": "no clip was embedded" if not ok.any() else
                            f"{int(v.n_frames)} frames: shorter than one {BLOCK}-frame block"})
            continue
        F = block_features(Xv[ok], sub["start_frame"].to_numpy()[ok], sub["end_frame"].to_numpy()[ok],
                           int(v.n_frames))
        if layout == "n1d":
            F = F[:, None, :]
        stem = Path(v.video).stem
        _write_npy(out / "features" / f"{stem}.npy", F)
        lists[target].append((v.category == "Normal", f"features/{stem}.npy"))
        if split == "test":
            test_blocks[v.video] = nb
    del X
    return D


def _write_frame_labels(out: Path, intervals: Mapping[str, Any], test_blocks: Mapping[str, int],
                        annotation_path: str | os.PathLike | None) -> dict[str, Any]:
    """``test_frame_labels.npy``: 16 x n_blocks frame labels per test video, in test-list order."""
    test_videos = list(test_blocks)
    absent = [v for v in test_videos if v not in intervals]
    if absent:
        where = display_path(resolve_path(annotation_path)) if annotation_path is not None else "the annotation"
        raise ValueError(f"{len(absent)} test video(s) have no line in {where} "
                         f"(e.g. {absent[0]!r}): pass the annotation the index was built from")
    parts = [intervals[v].frame_labels(BLOCK * test_blocks[v]).astype(np.uint8) for v in test_videos]
    gt = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    _write_npy(out / "test_frame_labels.npy", gt)
    return {"file": "test_frame_labels.npy", "dtype": "uint8", "n_frames": int(len(gt)),
            "n_anomalous": int(gt.sum())}


def export_features(run_dir: str | os.PathLike, dest: str | os.PathLike, *,
                    annotation_path: str | os.PathLike | None = None, layout: str = "nd",
                    manifest: str | os.PathLike | None = None, progress: bool = True) -> dict[str, Any]:
    """Write a run's embeddings as per-video block features, list files and test frame labels.

    Layout under ``dest`` (see the README, "Export for the field's code")::

        features/<video stem>.npy   float32 (n_blocks, D), or (n_blocks, 1, D) with layout="n1d"
        train.list                  official training videos (train + val), one path per line
        test.list                   test videos, one path per line
        test_frame_labels.npy       uint8 (sum over test.list of 16 x n_blocks,), test-list order
        export.json                 what was written, from which run

    List paths are relative to ``dest`` (``features/Abuse001_x264.npy``); each list holds the
    anomalous videos first, then the normal ones, each sorted by name.

    Parameters
    ----------
    run_dir : str or path-like
        The extraction's output folder (``out_dir`` of notebook 02).
    dest : str or path-like
        Folder to write into (created; existing files of the same names are replaced).
    annotation_path : str or path-like, optional
        ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``; without it no
        ``test_frame_labels.npy`` is written.
    layout : {"nd", "n1d"}
        ``"nd"``: (n_blocks, D); ``"n1d"``: (n_blocks, 1, D), one centre crop where the field's
        10-crop features are (n, 10, D).
    manifest : str or path-like, optional
        Read the embeddings from this manifest instead of ``run_dir``'s.
    progress : bool

    Returns
    -------
    dict
        The content of ``export.json``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'nd' ((n, D)) or 'n1d' ((n, 1, D)), got layout={layout!r}")
    source = resolve_path(manifest) if manifest is not None else resolve_path(run_dir)
    man = read_manifest(source)
    finished = _finished_splits(man, source)
    intervals = None
    if annotation_path is not None:
        intervals = read_temporal_annotation(annotation_path)
    out = resolve_path(dest)
    (out / "features").mkdir(parents=True, exist_ok=True)

    lists: dict[str, list[tuple[bool, str]]] = {"train": [], "test": []}
    test_blocks: dict[str, int] = {}      # test video -> blocks, in test-list order
    skipped: list[dict[str, str]] = []
    D = None
    for split in ("train", "val", "test"):
        if split in finished:
            D = _export_split(source, split, out, layout=layout, lists=lists, test_blocks=test_blocks,
                              skipped=skipped, progress=progress)
    # train.list: train + val together, anomalous first (each group sorted by name)
    entries = {"train": [p for _, p in sorted(lists["train"])], "test": [p for _, p in lists["test"]]}
    for name, paths in entries.items():
        (out / f"{name}.list").write_text("".join(f"{p}\n" for p in paths))

    labels_info = None
    if intervals is not None:
        labels_info = _write_frame_labels(out, intervals, test_blocks, annotation_path)
    info = {
        "source": display_path(source), "checkpoint": (man.get("model") or {}).get("checkpoint"),
        "embedding_dim": D, "pooling": man.get("pooling"), "index_sha256": (man.get("index") or {}).get("sha256"),
        "block": BLOCK, "layout": layout, "dtype": "float32",
        "shape": "(n_blocks, D)" if layout == "nd" else "(n_blocks, 1, D)",
        "crops": "one centre crop (the field's features are often 10-crop, (n, 10, D))",
        "lists": {"train": {"file": "train.list", "n_videos": len(entries["train"]),
                            "splits": [s for s in ("train", "val") if s in finished]},
                  "test": {"file": "test.list", "n_videos": len(entries["test"])}},
        "order": "anomalous videos first, then normal videos, each sorted by file name",
        "test_frame_labels": labels_info,
        "labels_convention": ("frame f of a video is anomalous when it lies in an annotated interval "
                              "(0-based, both ends inclusive); 16 x n_blocks frames per video, "
                              "i.e. f < 16 * floor(n_frames / 16)"),
        "skipped": skipped,
    }
    (out / "export.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    """``python -m ucf_nb.export RUN_DIR DEST [--annotation FILE] [--layout nd|n1d]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m ucf_nb.export",
                                 description="Write a run's embeddings in the layout of the field's training code.")
    ap.add_argument("run_dir", help="the extraction's output folder (out_dir of notebook 02)")
    ap.add_argument("dest", help="folder to write the export into")
    ap.add_argument("--annotation", default=None,
                    help="Temporal_Anomaly_Annotation_for_Testing_Videos.txt (for test_frame_labels.npy)")
    ap.add_argument("--layout", default="nd", choices=LAYOUTS, help="nd: (n, D); n1d: (n, 1, D)")
    args = ap.parse_args(argv)
    info = export_features(args.run_dir, args.dest, annotation_path=args.annotation, layout=args.layout)
    print(f"wrote {info['lists']['train']['n_videos']} train and {info['lists']['test']['n_videos']} test videos "
          f"({info['shape']}, float32) to {args.dest}; {len(info['skipped'])} left out")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
