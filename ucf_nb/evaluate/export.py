"""Export a run's embeddings in the layout the field's training code reads (RTFM, UR-DMU, MGFN).

Layouts: ``"nd"`` (n_blocks, D) and ``"n1d"`` (n_blocks, 1, D) per video; for a run extracted
with ``views="ten_crop"`` also ``"ten_crop"`` (n_blocks, 10, D) per video (RTFM, MGFN) and
``"per_crop"`` (one (n_blocks, D) file per crop, ten list lines per video: UR-DMU). List lines
are absolute paths by default; ``export.json``'s ``split_index`` says where the anomalous lines
of ``train.list`` end, the number those loaders hard-code.

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
import sys
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

LAYOUTS = ("nd", "n1d", "ten_crop", "per_crop")
"""``"nd"``: (n_blocks, D) per video; ``"n1d"``: (n_blocks, 1, D); ``"ten_crop"``: (n_blocks, 10, D)
(RTFM, MGFN); ``"per_crop"``: ten files (n_blocks, D) per video, ``<stem>__<k>.npy``, and ten
consecutive list lines per video (UR-DMU). The last two need a ten-crop run."""

PATHS = ("absolute", "relative")

#: lines at the head of train.list that the field's code takes as anomalous, on the full
#: UCF-Crime training list (810 anomalous videos): RTFM and MGFN slice at 810, UR-DMU at 8100
FIELD_SPLIT_INDEX = {"nd": 810, "n1d": 810, "ten_crop": 810, "per_crop": 8100}


def block_features(
    X: np.ndarray,
    start_frame: np.ndarray,
    end_frame: np.ndarray,
    n_frames: int,
    *,
    block: int = BLOCK,
    chunk: int = 1024,
) -> np.ndarray:
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
        raise ValueError(
            f"block_features needs X of shape (n_clips, D) with n_clips >= 1 and one "
            f"start/end frame per clip, got X {X.shape}, {len(s)} starts, {len(e)} ends"
        )
    nb = int(n_frames) // int(block)
    out = np.empty((nb, X.shape[1]), np.float32)
    for a in range(0, nb, chunk):
        b0 = np.arange(a, min(a + chunk, nb), dtype=np.int64)[:, None] * block  # block's first frame
        b1 = b0 + block - 1  # its last frame
        # frames between the block and each clip (0 when they overlap)
        d = np.maximum(np.maximum(s[None, :] - b1, b0 - (e[None, :] - 1)), 0)
        W = (d == d.min(axis=1, keepdims=True)).astype(np.float32)
        out[a : a + len(b0)] = (W @ X) / W.sum(axis=1, keepdims=True)
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
            raise FileNotFoundError(
                f"the {need} split of {display_path(source)} is not finished: run "
                f"notebooks/02_extract.ipynb with split='{need}' first"
            )
    return finished


def _export_split(
    source: Path,
    split: str,
    out: Path,
    *,
    layout: str,
    lists: dict[str, list[tuple[bool, list[str]]]],
    test_blocks: dict[str, int],
    skipped: list[dict[str, str]],
    progress: bool,
    relative: bool = True,
) -> int:
    """One split's videos as block features under ``out/features``; adds to ``lists`` (each
    video's list lines, ten for ``per_crop``), ``test_blocks`` and ``skipped``; returns the
    embedding width D."""
    X, _, rows = load_embeddings(source, split)
    D = X.shape[-1]
    views = X.shape[1] if X.ndim == 3 else 1
    base = "features" if relative else str(out.resolve() / "features")
    pos = pd.Series(np.arange(len(rows)), index=rows.index)
    rows = rows.assign(_pos=pos.to_numpy())
    videos = _order(
        rows.groupby("video", sort=False)
        .agg(category=("category", "first"), n_frames=("n_frames", "max"))
        .reset_index()
    )
    groups = rows.groupby("video", sort=False)["_pos"].apply(np.asarray)
    target = "test" if split == "test" else "train"
    for v in tqdm(
        videos.itertuples(index=False),
        total=len(videos),
        desc=f"export {split}",
        disable=not progress,
        ascii=True,
        mininterval=5,
    ):
        p = np.sort(groups[v.video])
        sub = rows.iloc[p]
        Xv = np.asarray(X[p], dtype=np.float32).reshape(len(p), -1)  # a clip's views side by side
        ok = np.isfinite(Xv).all(axis=1)
        nb = int(v.n_frames) // BLOCK
        if not ok.any() or nb == 0:
            skipped.append(
                {
                    "video": v.video,
                    "split": split,
                    "reason": "no clip was embedded"
                    if not ok.any()
                    else f"{int(v.n_frames)} frames: shorter than one {BLOCK}-frame block",
                }
            )
            continue
        # block means are linear: the blocks of every view at once, then (n_blocks, V, D)
        F = block_features(
            Xv[ok], sub["start_frame"].to_numpy()[ok], sub["end_frame"].to_numpy()[ok], int(v.n_frames)
        ).reshape(nb, views, D)
        stem = Path(v.video).stem
        if layout == "per_crop":
            names = [f"{stem}__{k}.npy" for k in range(views)]
            for k, name in enumerate(names):
                _write_npy(out / "features" / name, np.ascontiguousarray(F[:, k]))
        else:
            names = [f"{stem}.npy"]
            if layout in ("nd", "n1d"):  # the mean over the views; n1d keeps a views axis of 1
                F = F.mean(axis=1) if layout == "nd" else F.mean(axis=1)[:, None, :]
            _write_npy(out / "features" / names[0], F)
        lists[target].append((v.category == "Normal", [f"{base}/{name}" for name in names]))
        if split == "test":
            test_blocks[v.video] = nb
    del X
    return D


def _write_frame_labels(
    out: Path, intervals: Mapping[str, Any], test_blocks: Mapping[str, int], annotation_path: str | os.PathLike | None
) -> dict[str, Any]:
    """``test_frame_labels.npy``: 16 x n_blocks frame labels per test video, in test-list order."""
    test_videos = list(test_blocks)
    absent = [v for v in test_videos if v not in intervals]
    if absent:
        where = display_path(resolve_path(annotation_path)) if annotation_path is not None else "the annotation"
        raise ValueError(
            f"{len(absent)} test video(s) have no line in {where} "
            f"(e.g. {absent[0]!r}): pass the annotation the index was built from"
        )
    parts = [intervals[v].frame_labels(BLOCK * test_blocks[v]).astype(np.uint8) for v in test_videos]
    gt = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    _write_npy(out / "test_frame_labels.npy", gt)
    return {"file": "test_frame_labels.npy", "dtype": "uint8", "n_frames": int(len(gt)), "n_anomalous": int(gt.sum())}


def _crops_note(layout: str, views: str) -> str:
    if views == "center":
        return "one centre crop per clip (the field's features are ten-crop, (n, 10, D): extract with views='ten_crop')"
    if layout in ("nd", "n1d"):
        return "the mean over each clip's ten crops (extracted with views='ten_crop')"
    return (
        "ten crops per clip, torchvision's TenCrop order: top-left, top-right, bottom-left, bottom-right, centre, "
        "then the same five crops of the frame flipped horizontally"
    )


def _split_index(
    n_anomalous: int, per_video: int, layout: str, skipped: list[dict[str, str]], train: list[list[str]]
) -> dict[str, Any]:
    """``export.json``'s ``split_index``: where the anomalous lines of train.list end."""
    value = n_anomalous * per_video
    field = FIELD_SPLIT_INDEX[layout]
    left = [s for s in skipped if s["split"] in ("train", "val")]
    return {
        "value": int(value),
        "meaning": (
            f"train.list lines [0, {value}) are the anomalous training videos and the rest the normal ones"
            + (" (ten lines per video)" if per_video > 1 else "")
        ),
        "n_anomalous_videos": int(n_anomalous),
        "n_normal_videos": int(len(train) - n_anomalous),
        "lines_per_video": per_video,
        "field_code_value": field,
        "matches_field_code": bool(value == field),
        "set_it": (
            "RTFM: dataset.py slices the list at 810; MGFN: datasets/dataset.py at 810; UR-DMU: "
            "dataset_loader.py at 8100: change that number to 'value' when they differ"
        ),
        "left_out": [
            {
                "video": s["video"],
                "split": s["split"],
                "reason": s["reason"],
                "anomalous": not str(s["video"]).startswith("Normal"),
            }
            for s in left
        ],
    }


def export_features(
    run_dir: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    annotation_path: str | os.PathLike | None = None,
    layout: str = "nd",
    manifest: str | os.PathLike | None = None,
    progress: bool = True,
    paths: str = "absolute",
) -> dict[str, Any]:
    """Write a run's embeddings as per-video block features, list files and test frame labels.

    Layout under ``dest`` (see the README, "Export for the field's code")::

        features/<video stem>.npy   float32 (n_blocks, D); (n_blocks, 1, D) with layout="n1d";
                                    (n_blocks, 10, D) with layout="ten_crop"
        features/<stem>__<k>.npy    layout="per_crop": float32 (n_blocks, D), view k = 0..9
        train.list                  official training videos (train + val), one path per line
                                    (per_crop: ten consecutive lines per video, k = 0..9)
        test.list                   test videos, likewise
        test_frame_labels.npy       uint8 (sum over the test videos of 16 x n_blocks,), test-list order
        export.json                 what was written, from which run, and the split index

    List lines are absolute paths (``paths="absolute"``, the default: the field's loaders open
    them from their own folder) or relative to ``dest`` (``paths="relative"``:
    ``features/Abuse001_x264.npy``); each list holds the anomalous videos first, then the
    normal ones, each sorted by name. The field's training code splits ``train.list`` at a
    fixed line (RTFM and MGFN: 810; UR-DMU: 8100); ``export.json``'s ``split_index`` says
    where this export's anomalous lines end, and which videos were left out.

    Parameters
    ----------
    run_dir : str or path-like
        The extraction's output folder (``out_dir`` of notebook 02).
    dest : str or path-like
        Folder to write into (created; existing files of the same names are replaced).
    annotation_path : str or path-like, optional
        ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``; without it no
        ``test_frame_labels.npy`` is written.
    layout : {"nd", "n1d", "ten_crop", "per_crop"}
        ``"nd"``: (n_blocks, D); ``"n1d"``: (n_blocks, 1, D) (a run of several views: their
        mean); ``"ten_crop"``: (n_blocks, 10, D), the views in the run's order (RTFM, MGFN);
        ``"per_crop"``: one (n_blocks, D) file per view and ten list lines per video (UR-DMU).
        The last two need a run extracted with ``views="ten_crop"``.
    manifest : str or path-like, optional
        Read the embeddings from this manifest instead of ``run_dir``'s.
    progress : bool
    paths : {"absolute", "relative"}
        How list lines name the feature files (see above).

    Returns
    -------
    dict
        The content of ``export.json``.
    """
    if layout not in LAYOUTS:
        raise ValueError(
            f"layout must be 'nd' ((n, D)), 'n1d' ((n, 1, D)), 'ten_crop' ((n, 10, D)) or 'per_crop' "
            f"(ten (n, D) files per video), got layout={layout!r}"
        )
    if paths not in PATHS:
        raise ValueError(f"paths must be 'absolute' or 'relative' (to dest), got paths={paths!r}")
    source = resolve_path(manifest) if manifest is not None else resolve_path(run_dir)
    man = read_manifest(source)
    views = man.get("views") or "center"
    if layout in ("ten_crop", "per_crop") and views != "ten_crop":
        raise ValueError(
            f"layout={layout!r} needs ten views per clip, but {display_path(source)} was extracted with "
            f"views={views!r} (one view): extract the run again with views='ten_crop' "
            "(notebook 02 -p views ten_crop), or export it with layout='nd' or 'n1d'"
        )
    finished = _finished_splits(man, source)
    intervals = None
    if annotation_path is not None:
        intervals = read_temporal_annotation(annotation_path)
    out = resolve_path(dest)
    if paths == "absolute" and layout == "per_crop" and any(c.isspace() for c in str(out.resolve())):
        raise ValueError(
            f"dest {str(out.resolve())!r} has a space in it, and UR-DMU's loader splits list lines on "
            "whitespace: choose a dest without spaces, or pass paths='relative'"
        )
    (out / "features").mkdir(parents=True, exist_ok=True)

    lists: dict[str, list[tuple[bool, list[str]]]] = {"train": [], "test": []}
    test_blocks: dict[str, int] = {}  # test video -> blocks, in test-list order
    skipped: list[dict[str, str]] = []
    D = None
    for split in ("train", "val", "test"):
        if split in finished:
            D = _export_split(
                source,
                split,
                out,
                layout=layout,
                lists=lists,
                test_blocks=test_blocks,
                skipped=skipped,
                progress=progress,
                relative=paths == "relative",
            )
    # train.list: train + val together, anomalous first (each group sorted by name)
    entries = {"train": [p for _, p in sorted(lists["train"])], "test": [p for _, p in lists["test"]]}
    for name, videos in entries.items():
        (out / f"{name}.list").write_text("".join(f"{line}\n" for lines in videos for line in lines))
    per_video = 10 if layout == "per_crop" else 1
    n_anomalous = sum(not normal for normal, _ in lists["train"])

    labels_info = None
    if intervals is not None:
        labels_info = _write_frame_labels(out, intervals, test_blocks, annotation_path)
    info = {
        "source": display_path(source),
        "checkpoint": (man.get("model") or {}).get("checkpoint"),
        "embedding_dim": D,
        "pooling": man.get("pooling"),
        "index_sha256": (man.get("index") or {}).get("sha256"),
        "split_index": _split_index(n_anomalous, per_video, layout, skipped, entries["train"]),
        "block": BLOCK,
        "layout": layout,
        "dtype": "float32",
        "shape": {
            "nd": "(n_blocks, D)",
            "n1d": "(n_blocks, 1, D)",
            "ten_crop": "(n_blocks, 10, D)",
            "per_crop": "(n_blocks, D) per file, ten files per video (<stem>__<k>.npy, k = 0..9)",
        }[layout],
        "views": views,
        "crops": _crops_note(layout, views),
        "paths": paths,
        "lists": {
            "train": {
                "file": "train.list",
                "n_videos": len(entries["train"]),
                "n_lines": per_video * len(entries["train"]),
                "lines_per_video": per_video,
                "splits": [s for s in ("train", "val") if s in finished],
            },
            "test": {
                "file": "test.list",
                "n_videos": len(entries["test"]),
                "n_lines": per_video * len(entries["test"]),
                "lines_per_video": per_video,
            },
        },
        "order": "anomalous videos first, then normal videos, each sorted by file name",
        "test_frame_labels": labels_info,
        "labels_convention": (
            "frame f of a video is anomalous when it lies in an annotated interval "
            "(0-based, both ends inclusive); 16 x n_blocks frames per video, "
            "i.e. f < 16 * floor(n_frames / 16)"
        ),
        "skipped": skipped,
    }
    (out / "export.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    """``python -m ucf_nb.export RUN_DIR DEST [--annotation FILE] [--layout nd|n1d]``."""
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m ucf_nb.export",
        description="Write a run's embeddings in the layout of the field's training code.",
    )
    ap.add_argument("run_dir", help="the extraction's output folder (out_dir of notebook 02)")
    ap.add_argument("dest", help="folder to write the export into")
    ap.add_argument(
        "--annotation",
        default=None,
        help="Temporal_Anomaly_Annotation_for_Testing_Videos.txt (for test_frame_labels.npy)",
    )
    ap.add_argument(
        "--layout",
        default="nd",
        choices=LAYOUTS,
        help="nd: (n, D); n1d: (n, 1, D); ten_crop: (n, 10, D) (RTFM, MGFN); per_crop: ten (n, D) "
        "files per video (UR-DMU); the last two need a run extracted with views='ten_crop'",
    )
    ap.add_argument(
        "--paths", default="absolute", choices=PATHS, help="list lines as absolute paths (default) or relative to DEST"
    )
    args = ap.parse_args(argv)
    try:
        info = export_features(
            args.run_dir, args.dest, annotation_path=args.annotation, layout=args.layout, paths=args.paths
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {info['lists']['train']['n_videos']} train and {info['lists']['test']['n_videos']} test videos "
        f"({info['shape']}, float32) to {args.dest}; {len(info['skipped'])} left out"
    )
    si = info["split_index"]
    left = [s["video"] for s in si["left_out"]]
    print(
        f"split index: {si['value']} (the first {si['value']} lines of train.list are the "
        f"{si['n_anomalous_videos']} anomalous training videos"
        + (f", {si['lines_per_video']} lines each" if si["lines_per_video"] > 1 else "")
        + "; the field's code uses "
        f"{si['field_code_value']}"
        + (": set it to " + str(si["value"]) if not si["matches_field_code"] else "")
        + "); "
        + (f"training videos left out: {', '.join(left)}" if left else "no training video left out")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
