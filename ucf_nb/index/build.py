"""The clip index of UCF-Crime: build it, read it.

The index is a CSV with one row per clip window. Its first columns are fixed, in this order
(:data:`INDEX_COLUMNS`)::

    split,y,category,path,clip_idx,start_frame,end_frame,clip_len,stride,fps,n_frames

followed by the extras ``video`` (the file name, e.g. ``Abuse001_x264.mp4``) and
``anomaly_frac`` (test rows: the fraction of the clip's frames inside an annotated anomalous
interval; empty elsewhere).

Conventions
-----------
- Frame numbers count decoded frames from 0. ``end_frame`` is exclusive: clip ``k`` of a
  video covers ``[k * stride, k * stride + clip_len)``; windows reaching past the video's
  last frame are not emitted (:func:`ucf_nb.video.sampling.clip_windows`).
- Rows are ordered by split (train, val, test), then video file name, then ``clip_idx``. The
  position of a row in the CSV (0-based) is its *index row number*, the clip's identity in
  every later step; :func:`read_index` returns it as the DataFrame's RangeIndex.
- ``path`` is the dataset root as it was given joined with the file's path under it: relative
  (to the project root, see :mod:`ucf_nb.paths`) when the root was relative, absolute when it
  was absolute. Open a clip's video with ``resolve_path(row.path)``.
- The split lists and the temporal annotation are read by :mod:`ucf_nb.index.annotations`, the
  videos found by :mod:`ucf_nb.index.locate`; :mod:`ucf_nb.index.validate` checks an index.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from .._compat import rename_deprecated
from ..checks import UcfNbError, printable_path, settings_from_call, utf8_path_problem
from ..files import atomic_write_csv
from ..paths import demo_hint, display_path, resolve_path
from ..progress import progress_bar as tqdm
from ..video.decode import VideoError, probe_video
from ..video.sampling import clip_windows
from .annotations import (
    ANNOTATION_NAME,
    SPLITS,
    TEST_LIST_NAME,
    TRAIN_LIST_NAME,
    ListEntry,
    is_list_format,
    parse_annotation,
    parse_video_list,
    problem_row,
)
from .framecount import REPORT_COLUMNS, FrameCount, count_video_frames, frame_counts_path
from .locate import find_list_file, remap_video_root, scan_video_entries
from .settings import IndexSettings

__all__ = [
    "INDEX_COLUMNS",
    "EXTRA_COLUMNS",
    "IndexBuildError",
    "build_index",
    "skipped_path",
    "read_index",
]

INDEX_COLUMNS: list[str] = [
    "split",
    "y",
    "category",
    "path",
    "clip_idx",
    "start_frame",
    "end_frame",
    "clip_len",
    "stride",
    "fps",
    "n_frames",
]
"""The index's required columns, in their order."""

EXTRA_COLUMNS: list[str] = ["video", "anomaly_frac"]
"""The extra columns :func:`build_index` writes after :data:`INDEX_COLUMNS`."""


class _NoFrames(Exception):
    """A video that opens but yields no frame."""


def _probe(path: Path, count_frames: bool) -> tuple[float, int, FrameCount]:
    """fps, frame count and how the count was found, of one video.

    The frame count is what decodes (:func:`ucf_nb.count_video_frames`: the container's
    packets where they can be trusted, else a full decode; always a full decode with
    ``count_frames``), never the container's claim alone; the fps comes from
    :func:`ucf_nb.video.probe_video`. Raises ``_NoFrames`` for a file without frames and
    :class:`~ucf_nb.video.VideoError` (or ``OSError``) for an unreadable one.
    """
    try:
        info = probe_video(path)
        counted = count_video_frames(path, decode=count_frames)
    except VideoError as err:  # the build report names the file and the fix itself
        raise OSError(err.reason) from None
    if counted.n_frames <= 0:
        raise _NoFrames("it opens but has no frames")
    if not np.isfinite(info.fps) or info.fps <= 0:
        raise OSError(f"its frame rate is not readable (got {info.fps})")
    return info.fps, counted.n_frames, counted


def _probe_all(
    paths: list[Path], count_frames: bool, num_workers: int
) -> list[tuple[float, int, FrameCount] | Exception]:
    """Probe ``paths`` in a thread pool (OpenCV releases the GIL), with a progress bar."""
    import cv2

    results: list[tuple[float, int, FrameCount] | Exception] = [None] * len(paths)  # type: ignore[list-item]

    def one(i: int) -> None:
        try:
            results[i] = _probe(paths[i], count_frames)
        except (OSError, _NoFrames, cv2.error) as exc:  # VideoError is reported as OSError
            results[i] = exc

    desc = "counting frames" if count_frames else "probing videos"
    with tqdm(total=len(paths), desc=desc, unit="video") as bar:
        if num_workers <= 1:
            for i in range(len(paths)):
                one(i)
                bar.update()
        else:
            with ThreadPoolExecutor(max_workers=num_workers) as pool:
                for fut in as_completed([pool.submit(one, i) for i in range(len(paths))]):
                    fut.result()
                    bar.update()
    return results


class IndexBuildError(UcfNbError, ValueError):
    """The build found bad input. ``problems`` is a DataFrame (file, reason, kind, source)."""

    def __init__(self, message: str, problems: pd.DataFrame):
        super().__init__(message)
        self.problems = problems


def skipped_path(index_path: str | os.PathLike) -> Path:
    """Where :func:`build_index` lists skipped videos: ``<index>.skipped.csv`` next to it."""
    p = resolve_path(index_path)
    return p.with_name(p.stem + ".skipped.csv")


def _split_val(train: list[ListEntry], val_fraction: float, seed: int) -> set[str]:
    """Names of the training videos moved to val: per category, ``round(val_fraction * n)``
    videos (at least 1 and at most ``n - 1`` when ``n >= 2`` and ``val_fraction > 0``), drawn
    with ``numpy.random.default_rng(seed)`` from the names in sorted order."""
    rng = np.random.default_rng(seed)
    by_cat: dict[str, list[str]] = {}
    for e in train:
        by_cat.setdefault(e.category, []).append(e.name)
    val: set[str] = set()
    for cat in sorted(by_cat):
        names = sorted(by_cat[cat])
        n = len(names)
        if val_fraction <= 0 or n < 2:
            continue
        k = min(max(int(round(val_fraction * n)), 1), n - 1)
        val.update(names[i] for i in rng.permutation(n)[:k])
    return val


def _overlap_fraction(starts: np.ndarray, ends: np.ndarray, intervals: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Fraction of each window ``[start, end)`` inside the union of half-open ``intervals``."""
    covered = np.zeros(len(starts), dtype=np.int64)
    merged: list[list[int]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    for s, e in merged:
        covered += np.clip(np.minimum(ends, e) - np.maximum(starts, s), 0, None)
    return covered / (ends - starts)


def build_index(
    dataset_root: str | os.PathLike,
    split_file: str | os.PathLike | None = None,
    annotation_path: str | os.PathLike | None = None,
    index_path: str | os.PathLike | None = None,
    *,
    clip_len: int = 32,
    stride: int = 16,
    val_fraction: float = 0.15,
    seed: int = 0,
    label_mode: str = "video",
    anomaly_threshold: float = 0.5,
    count_frames: bool = False,
    on_missing: str = "raise",
    probe_threads: int = 8,
    annotation_file: str | os.PathLike | None = None,
    num_workers: int | None = None,
    settings: IndexSettings | None = None,
) -> pd.DataFrame:
    """Build the clip index of UCF-Crime from the dataset as downloaded.

    Videos are found by file name anywhere under ``dataset_root`` (any official layout:
    ``Anomaly-Videos-Part-N/<Category>/``, ``Training-Normal-Videos-Part-N/``,
    ``Testing_Normal_Videos_Anomaly/``, or the merged ``Videos/<Category>/`` tree); the
    folder prefixes in the split list are categories, not folders on disk.

    Splits: ``train`` = the training list minus ``val``; ``val`` = per category a seeded
    ``val_fraction`` of the training videos (whole videos; a category with at least 2
    videos keeps at least 1 in train and gives at least 1 to val); ``test`` = the annotated
    test videos. The val draw is made over the training list as written, before any video
    is left out (``on_missing="skip"``): a skipped video leaves its own split one video
    short and moves no other video between train and val. Labels: ``y = 0`` for ``Normal``, 1 for
    the 13 anomaly categories; with
    ``label_mode="temporal"`` test rows get ``y = anomaly_frac >= anomaly_threshold``.

    Parameters
    ----------
    dataset_root : str or os.PathLike
        The dataset folder. Relative paths resolve against the project root and stay
        relative in the index's ``path`` column.
    split_file : str or os.PathLike, optional
        ``Anomaly_Train.txt``; None searches ``dataset_root`` for it.
    annotation_path : str or os.PathLike, optional
        ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt`` or, without the temporal
        intervals, ``Anomaly_Test.txt`` (recognised by its content; then ``anomaly_frac`` is
        empty). None searches ``dataset_root`` for the first, then the second.
    index_path : str or os.PathLike, optional
        Where to write the CSV (atomically), with ``<index>.frame_counts.csv`` beside it
        (:data:`ucf_nb.framecount.REPORT_COLUMNS`, one row per indexed video). None: only
        return the DataFrame.
    clip_len, stride : int
        Window length and step, in frames.
    val_fraction : float
        Fraction of each category's training videos moved to ``val``, in ``[0, 1)``.
    seed : int
        Seed of the validation draw.
    label_mode : {"video", "temporal"}
    anomaly_threshold : float
        In ``(0, 1]``; used by ``label_mode="temporal"``.
    count_frames : bool
        Count every video's frames by decoding it (slow: decodes all of the data). Without it
        the count is still what decodes (:func:`ucf_nb.count_video_frames`): the container's
        packets, read without decoding, where the container stores one packet per frame and
        its own count agrees with them; any other video (another container, a header whose
        count disagrees, a truncated file) is decoded to count. A container whose count
        disagrees with what decodes is named in a warning and listed, with both counts, in
        ``<index>.frame_counts.csv`` (:func:`ucf_nb.frame_count_report`, shown by notebook
        01); the build goes on.
    on_missing : {"raise", "skip"}
        What to do with bad input (listed video absent, unreadable or frameless file,
        video shorter than ``clip_len``, file name found twice under the root, list or
        annotation line that does not parse, video listed twice or in both lists).
        ``"raise"``: raise :class:`IndexBuildError` listing all of it. ``"skip"``: leave
        those videos out and, with ``index_path``, list them in ``<index>.skipped.csv``
        (columns ``file, reason, kind, source``).
    probe_threads : int
        Threads probing the videos (0 or 1: in this thread).
    annotation_file, num_workers
        The names of ``annotation_path`` and ``probe_threads`` before ucf-nb 0.2: still
        accepted, with a FutureWarning; when both names are given the new one wins.
    settings : IndexSettings, optional
        All of ``clip_len`` ... ``probe_threads`` as one value (:class:`ucf_nb.IndexSettings`,
        checked when made); then those keywords must stay at their defaults (ValueError
        naming the first that is not).

    Returns
    -------
    pandas.DataFrame
        One row per clip: :data:`INDEX_COLUMNS` then :data:`EXTRA_COLUMNS`, in index order,
        RangeIndex.

    Raises
    ------
    IndexBuildError
        Bad input with ``on_missing="raise"``; its ``problems`` attribute lists all of it.
    """
    renamed = rename_deprecated(
        {"annotation_file": annotation_file, "num_workers": num_workers},
        {"annotation_file": "annotation_path", "num_workers": "probe_threads"},
        {"annotation_path": (annotation_path, None), "probe_threads": (probe_threads, 8)},
        where="build_index",
    )
    annotation_path, probe_threads = renamed["annotation_path"], renamed["probe_threads"]
    s = settings_from_call(IndexSettings, locals(), settings, who="build_index")  # every option checked here

    root_str = os.path.expanduser(os.fsdecode(dataset_root))
    root = resolve_path(root_str)
    if utf8_path_problem(root):
        raise ValueError(
            f"dataset_root cannot be used: {utf8_path_problem(root)}; rename it (or link it "
            "from a folder whose path is UTF-8) and pass that path"
        )
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset_root {display_path(root)} is not a folder: download UCF-Crime there, or "
            "run `python -m ucf_nb.demo` and pass dataset_root='demo/UCF_Crime'"
        )
    root_prefix = PurePosixPath(Path(root_str).as_posix())

    split_path, ann_path = _list_files(root, split_file, annotation_path)
    train_entries, test_entries, problems = _read_lists(split_path, ann_path, s.label_mode)
    chosen = _one_entry_per_video(test_entries, train_entries, problems)
    located = _locate(root, chosen, problems)
    results = _probe_all([root / rel for _, _, rel in located], s.count_frames, s.probe_threads)
    videos = _usable_videos(located, results, s.clip_len, problems)

    problem_frame = pd.DataFrame(problems, columns=["file", "reason", "kind", "source"])
    if problems and s.on_missing == "raise":
        raise _build_error(problems, problem_frame)

    listed_train = [e for split, e in chosen.values() if split == "train"]
    per_split = _assign_splits(videos, listed_train, s.val_fraction, s.seed)
    df = _clip_rows(per_split, root_prefix, s)
    if not len(df):
        raise ValueError(
            f"no clip could be made from {display_path(root)}: every listed video "
            "was skipped (see the skipped list) or is shorter than clip_len"
        )

    counts = _frame_count_frame(located, results, set(df["video"]))
    if index_path is not None:
        _write_index(df, problem_frame, resolve_path(index_path), s.on_missing, counts)
    _warn_lying_headers(counts, index_path)
    if problems:
        where = (
            f"listed in {display_path(skipped_path(index_path))}"
            if index_path is not None
            else "first: " + "; ".join(p["reason"] for p in problems[:5])
        )
        warnings.warn(
            f"build_index skipped {problem_frame['file'].nunique()} video(s) or "
            f"line(s) ({len(problems)} problems), {where}",
            stacklevel=2,
        )
    return df


def _list_files(
    root: Path, split_file: str | os.PathLike | None, annotation_path: str | os.PathLike | None
) -> tuple[Path, Path]:
    """The training list and the test annotation (or list): as given, else found under ``root``."""
    if split_file is None:
        split_path = find_list_file(root, (TRAIN_LIST_NAME,), "split_file")
        if split_path is None:
            raise FileNotFoundError(
                f"{TRAIN_LIST_NAME} not found under {display_path(root)}: pass split_file= its path"
            )
    else:
        split_path = resolve_path(split_file)
        if not split_path.is_file():
            raise FileNotFoundError(
                f"split_file {display_path(split_path)} not found: pass the path of {TRAIN_LIST_NAME}"
            )
    if annotation_path is None:
        ann_path = find_list_file(root, (ANNOTATION_NAME, TEST_LIST_NAME), "annotation_path")
        if ann_path is None:
            raise FileNotFoundError(
                f"{ANNOTATION_NAME} (or {TEST_LIST_NAME}) not found under "
                f"{display_path(root)}: pass annotation_path= its path"
            )
    else:
        ann_path = resolve_path(annotation_path)
        if not ann_path.is_file():
            raise FileNotFoundError(
                f"annotation_path {display_path(ann_path)} not found: pass the path of {ANNOTATION_NAME}"
            )
    return split_path, ann_path


def _read_lists(
    split_path: Path, ann_path: Path, label_mode: str
) -> tuple[list[ListEntry], list[ListEntry], list[dict]]:
    """(training entries, test entries, problems) of the two list files."""
    train_entries, problems = parse_video_list(split_path)
    if is_list_format(ann_path):
        test_entries, more = parse_video_list(ann_path)
        if label_mode == "temporal":
            raise ValueError(
                f"label_mode='temporal' needs frame intervals, but "
                f"{display_path(ann_path)} is a plain list: pass "
                f"annotation_path={ANNOTATION_NAME!r} or use label_mode='video'"
            )
    else:
        test_entries, more = parse_annotation(ann_path)
    problems += more
    return train_entries, test_entries, problems


def _one_entry_per_video(
    test_entries: list[ListEntry], train_entries: list[ListEntry], problems: list[dict]
) -> dict[str, tuple[str, ListEntry]]:
    """Name -> (split, entry); repeated lines and videos in both lists become problems."""
    chosen: dict[str, tuple[str, ListEntry]] = {}
    for split, entries in (("test", test_entries), ("train", train_entries)):
        for e in entries:
            if e.name in chosen:
                other_split, other = chosen[e.name]
                if other_split == split:
                    problems.append(
                        problem_row(
                            e.name,
                            "duplicate_line",
                            f"{e.source}: {e.name} is listed again (first: {other.source})",
                            e.source,
                        )
                    )
                else:
                    problems.append(
                        problem_row(
                            e.name,
                            "in_both_lists",
                            f"{e.source}: {e.name} is also a test video ({other.source}); it is kept in test only",
                            e.source,
                        )
                    )
                continue
            chosen[e.name] = (split, e)
    return chosen


def _locate(
    root: Path, chosen: dict[str, tuple[str, ListEntry]], problems: list[dict]
) -> list[tuple[str, ListEntry, str]]:
    """Find every listed file by name under the root: (split, entry, path under root)."""
    on_disk, odd = scan_video_entries(root)
    lower: dict[str, list[str]] = {}
    for name, rels in on_disk.items():
        lower.setdefault(name.lower(), []).extend(rels)
    odd_lower: dict[str, list[tuple[str, str]]] = {}
    for name, entries in odd.items():
        odd_lower.setdefault(name.lower(), []).extend(entries)
    located: list[tuple[str, ListEntry, str]] = []
    for name, (split, e) in chosen.items():
        rels = on_disk.get(name) or lower.get(name.lower(), [])
        others = odd.get(name) or odd_lower.get(name.lower(), [])
        if not rels and others:
            what = "; ".join(f"{printable_path(rel)} is {kind}" for rel, kind in others)
            problems.append(
                problem_row(
                    name,
                    "not_a_file",
                    f"{e.source}: {name} is not a video file under "
                    f"{display_path(root)}: {what}; put the video itself there",
                    e.source,
                )
            )
        elif not rels:
            problems.append(
                problem_row(name, "missing", f"{e.source}: {name} is not anywhere under {display_path(root)}", e.source)
            )
        elif len(rels) == 1 and utf8_path_problem(rels[0]):
            problems.append(
                problem_row(
                    name,
                    "bad_path",
                    f"{e.source}: {name} cannot be read: "
                    f"{utf8_path_problem(rels[0])}; rename the folders on its path in UTF-8",
                    e.source,
                )
            )
        elif len(rels) > 1:
            where = ", ".join(rels)
            problems.append(
                problem_row(
                    name,
                    "duplicate_name",
                    f"{e.source}: {name} is found {len(rels)} times under the dataset root ({where}); keep one copy",
                    e.source,
                )
            )
        else:
            located.append((split, e, rels[0]))
    return located


def _usable_videos(
    located: list[tuple[str, ListEntry, str]], results: list, clip_len: int, problems: list[dict]
) -> list[tuple[str, ListEntry, str, float, int]]:
    """(split, entry, path, fps, n_frames) of the probed videos at least ``clip_len`` long."""
    videos: list[tuple[str, ListEntry, str, float, int]] = []
    for (split, e, rel), res in zip(located, results):
        if isinstance(res, _NoFrames):
            problems.append(problem_row(e.name, "zero_frames", f"{rel}: {res}", e.source))
        elif isinstance(res, Exception):
            problems.append(problem_row(e.name, "unreadable", f"{rel}: {res}", e.source))
        elif res[1] < clip_len:
            problems.append(
                problem_row(
                    e.name,
                    "too_short",
                    f"{rel}: {res[1]} frames, fewer than clip_len={clip_len}, so no clip fits",
                    e.source,
                )
            )
        else:
            videos.append((split, e, rel, res[0], res[1]))
    return videos


def _build_error(problems: list[dict], problem_frame: pd.DataFrame) -> IndexBuildError:
    counts = problem_frame["kind"].value_counts()
    summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
    shown = "\n".join(f"  [{p['kind']}] {p['reason']}" for p in problems[:25])
    more_note = f"\n  ... and {len(problems) - 25} more" if len(problems) > 25 else ""
    return IndexBuildError(
        f"the index was not built: {len(problems)} problem(s) with the input ({summary}):\n"
        f"{shown}{more_note}\nFix the files or lists, or pass on_missing='skip' to build "
        "without these videos (they are then listed in <index>.skipped.csv).",
        problem_frame,
    )


def _assign_splits(
    videos: list[tuple[str, ListEntry, str, float, int]], listed_train: list[ListEntry], val_fraction: float, seed: int
) -> dict[str, list]:
    """Split -> [(entry, path, fps, n_frames)]: the seeded val draw moves training videos to val.

    The draw is made over ``listed_train``, every video of the training list (found on disk
    or not), and only then are the videos that were left out dropped: which video goes to
    val never depends on which other videos are present."""
    val_names = _split_val(listed_train, val_fraction, seed)
    per_split: dict[str, list] = {s: [] for s in SPLITS}
    for split, e, rel, fps, n in videos:
        if split == "train" and e.name in val_names:
            split = "val"
        per_split[split].append((e, rel, fps, n))
    return per_split


def _clip_rows(
    per_split: dict[str, list],
    root_prefix: PurePosixPath,
    s: IndexSettings,
) -> pd.DataFrame:
    """One row per clip window, in index order (split, file name, clip_idx); empty when no video is left."""
    clip_len, stride = s.clip_len, s.stride
    columns: dict[str, list[np.ndarray]] = {c: [] for c in INDEX_COLUMNS + EXTRA_COLUMNS}
    for split in SPLITS:
        for e, rel, fps, n in sorted(per_split[split], key=lambda v: v[0].name):
            win = clip_windows(n, clip_len, stride)
            k = len(win)
            starts, ends = win[:, 0], win[:, 1]
            if split == "test" and e.intervals is not None:
                frac = _overlap_fraction(starts, ends, e.intervals)
            else:
                frac = np.full(k, np.nan)
            y = np.full(k, int(e.category != "Normal"), dtype=np.int64)
            if split == "test" and s.label_mode == "temporal":
                y = (frac >= s.anomaly_threshold).astype(np.int64)
            columns["split"].append(np.full(k, split, dtype=object))
            columns["y"].append(y)
            columns["category"].append(np.full(k, e.category, dtype=object))
            columns["path"].append(np.full(k, (root_prefix / rel).as_posix(), dtype=object))
            columns["clip_idx"].append(np.arange(k, dtype=np.int64))
            columns["start_frame"].append(starts)
            columns["end_frame"].append(ends)
            columns["clip_len"].append(np.full(k, clip_len, dtype=np.int64))
            columns["stride"].append(np.full(k, stride, dtype=np.int64))
            columns["fps"].append(np.full(k, fps, dtype=np.float64))
            columns["n_frames"].append(np.full(k, n, dtype=np.int64))
            columns["video"].append(np.full(k, e.name, dtype=object))
            columns["anomaly_frac"].append(frac)
    if not columns["split"]:
        return pd.DataFrame(columns=INDEX_COLUMNS + EXTRA_COLUMNS)
    df = pd.DataFrame({c: np.concatenate(v) for c, v in columns.items()})
    for c in ("split", "category", "path", "video"):
        df[c] = df[c].astype(str)
    return df


def _frame_count_frame(located: list[tuple[str, ListEntry, str]], results: list, indexed: set[str]) -> pd.DataFrame:
    """One row per indexed video: how its frame count was found (``<index>.frame_counts.csv``)."""
    recs = []
    for (_, e, rel), res in zip(located, results):
        if isinstance(res, Exception) or e.name not in indexed:
            continue
        c = res[2]
        recs.append(
            {
                "video": e.name,
                "path": rel,
                "container": c.container,
                "header_frames": c.header,
                "packets": c.packets,
                "decoded": c.decoded,
                "n_frames": c.n_frames,
                "method": c.method,
            }
        )
    out = pd.DataFrame(recs, columns=REPORT_COLUMNS)
    for col in ("header_frames", "packets", "decoded"):
        out[col] = out[col].astype("Int64")
    return out.sort_values("video", kind="stable").reset_index(drop=True)


def _warn_lying_headers(counts: pd.DataFrame, index_path: str | os.PathLike | None) -> None:
    """One warning naming the videos whose container's frame count is not what decodes (the
    index uses what decodes; the build goes on)."""
    bad = counts[counts["header_frames"].notna() & (counts["header_frames"] != counts["n_frames"])]
    if not len(bad):
        return
    shown = "; ".join(
        f"{r.video}: the container says {r.header_frames}, {r.n_frames} decode" for r in bad.head(5).itertuples()
    )
    more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
    where = (
        f"listed in {display_path(frame_counts_path(index_path))} (notebook 01 shows them)"
        if index_path is not None
        else "pass index_path to keep the list"
    )
    warnings.warn(
        f"build_index: {len(bad)} video(s) have a container whose frame count is not the number of "
        f"frames that decode ({shown}{more}); the index uses the frames that decode; {where}",
        stacklevel=3,
    )


def _write_index(
    df: pd.DataFrame, problem_frame: pd.DataFrame, out: Path, on_missing: str, counts: pd.DataFrame
) -> None:
    """The index CSV, its frame counts and, with ``on_missing="skip"``, the list of skipped
    videos, atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(out, df)
    atomic_write_csv(frame_counts_path(out), counts)
    skipped = skipped_path(out)
    if on_missing == "skip":
        atomic_write_csv(skipped, problem_frame)
    elif skipped.exists():
        skipped.unlink()  # a stale list from an earlier build would mislead


def read_index(
    index_path: str | os.PathLike = "processed/index_clips.csv", video_root: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Read an index CSV; optionally point its paths at another dataset root.

    Parameters
    ----------
    index_path : str or os.PathLike
        The CSV written by :func:`build_index` (relative: against the project root).
    video_root : str or os.PathLike, optional
        The dataset root on this machine; see :func:`remap_video_root`.

    Returns
    -------
    pandas.DataFrame
        The rows in file order; the index is a RangeIndex, the index row numbers.
    """
    path = resolve_path(index_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{display_path(path)} not found: run notebooks/00_build_index.ipynb first{demo_hint(path, 'index_path')}"
        )
    try:
        df = pd.read_csv(path, dtype={c: str for c in ("split", "category", "path", "video")}, keep_default_na=True)
    except UnicodeDecodeError as exc:
        raise ValueError(_not_utf8_message(path, exc)) from None
    absent = [c for c in INDEX_COLUMNS if c not in df.columns]
    if absent:
        raise ValueError(
            f"{display_path(path)} is not a clip index: it lacks the columns {absent} "
            "(write one with notebooks/00_build_index.ipynb)"
        )
    df.index = pd.RangeIndex(len(df))
    df = derive_missing_columns(df)
    if video_root is not None:
        df = remap_video_root(df, video_root)
    return df


def _not_utf8_message(path: Path, exc: UnicodeDecodeError) -> str:
    """One sentence: the index file is not UTF-8 text, where (line, byte), what to do."""
    data = path.read_bytes()
    line = 1
    for i, raw in enumerate(data.split(b"\n"), start=1):  # the first line with a byte that is not UTF-8
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            line, byte = i, raw[bad.start]
            break
    else:  # pragma: no cover - pandas read it in another encoding's chunks
        byte = exc.object[exc.start] if isinstance(exc.object, bytes) else 0
    return (
        f"{display_path(path)} is not UTF-8 text (byte 0x{byte:02x} on line {line}): an index written by "
        "build_index is UTF-8; rebuild it with notebooks/00_build_index.ipynb, or save the edited file as "
        "UTF-8"
    )


def derive_missing_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add what an index with only :data:`INDEX_COLUMNS` (the prototype's 11 columns) lacks
    and can be derived: ``video``, the file name of ``path`` (the key the probe, the temporal
    annotation and the split-leak check use). Present columns are never changed."""
    if "video" not in df.columns and "path" in df.columns:
        df = df.copy()
        df["video"] = [None if pd.isna(p) else str(p).replace("\\", "/").rsplit("/", 1)[-1] for p in df["path"]]
    return df
