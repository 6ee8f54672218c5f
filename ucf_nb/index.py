"""The clip index of UCF-Crime: build it, read it, check it, move it to another machine.

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
  last frame are not emitted (:func:`ucf_nb.sampling.clip_windows`).
- Rows are ordered by split (train, val, test), then video file name, then ``clip_idx``. The
  position of a row in the CSV (0-based) is its *index row number*, the clip's identity in
  every later step; :func:`read_index` returns it as the DataFrame's RangeIndex.
- ``path`` is the dataset root as it was given joined with the file's path under it: relative
  (to the project root, see :mod:`ucf_nb.paths`) when the root was relative, absolute when it
  was absolute. Open a clip's video with ``resolve_path(row.path)``.
- Temporal annotations: the numbers in
  ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt`` are read as 0-based frame numbers with
  *both ends inclusive*; they are returned half-open, so ``Abuse028_x264.mp4 Abuse 165 240 -1 -1``
  becomes the interval ``(165, 241)`` (see :func:`read_temporal_annotation`).
"""
from __future__ import annotations

import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ._compat import rename_deprecated
from .paths import demo_hint, display_path, resolve_path
from .sampling import clip_windows

__all__ = [
    "INDEX_COLUMNS",
    "EXTRA_COLUMNS",
    "ANOMALY_CATEGORIES",
    "CATEGORIES",
    "VideoAnnotation",
    "read_temporal_annotation",
    "IndexBuildError",
    "build_index",
    "skipped_path",
    "read_index",
    "remap_video_root",
    "IndexValidationError",
    "IndexCheck",
    "IndexReport",
    "validate_index",
]

INDEX_COLUMNS: list[str] = ["split", "y", "category", "path", "clip_idx", "start_frame",
                             "end_frame", "clip_len", "stride", "fps", "n_frames"]
"""The index's required columns, in their order."""

EXTRA_COLUMNS: list[str] = ["video", "anomaly_frac"]
"""The extra columns :func:`build_index` writes after :data:`INDEX_COLUMNS`."""

SPLITS: tuple[str, ...] = ("train", "val", "test")

ANOMALY_CATEGORIES: tuple[str, ...] = (
    "Abuse", "Arrest", "Arson", "Assault", "Burglary", "Explosion", "Fighting",
    "RoadAccidents", "Robbery", "Shooting", "Shoplifting", "Stealing", "Vandalism")
"""The 13 anomaly categories of UCF-Crime (label 1)."""

CATEGORIES: tuple[str, ...] = ANOMALY_CATEGORIES + ("Normal",)
"""All 14 categories; ``Normal`` has label 0."""

TRAIN_LIST_NAME = "Anomaly_Train.txt"
ANNOTATION_NAME = "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
TEST_LIST_NAME = "Anomaly_Test.txt"

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg",
                              ".webm", ".wmv", ".flv"})

_INT_COLUMNS = ("y", "clip_idx", "start_frame", "end_frame", "clip_len", "stride", "n_frames")
_STR_COLUMNS = ("split", "category", "path")

# Top-level folders of the official releases (the Dropbox zips and the merged "Videos/" tree).
_OFFICIAL_FOLDER = re.compile(
    r"^(anomaly[-_ ]?videos([-_ ]?part[-_ ]?\d+)?"
    r"|training[-_ ]?normal[-_ ]?videos([-_ ]?part[-_ ]?\d+|[-_ ]?anomaly)?"
    r"|testing[-_ ]?normal[-_ ]?videos([-_ ]?anomaly)?"
    r"|normal[-_ ]?videos[-_ ]?(for[-_ ]?event[-_ ]?recognition|event))$",
    re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# categories and annotation files
# --------------------------------------------------------------------------------------------

def _category_key(token: str) -> str:
    return re.sub(r"[^a-z]", "", token.lower())


_CATEGORY_BY_KEY = {_category_key(c): c for c in ANOMALY_CATEGORIES}
_CATEGORY_BY_KEY.update({"roadaccident": "RoadAccidents", "shoplift": "Shoplifting"})


def _canonical_category(token: str) -> str | None:
    """The official spelling of a category or folder-prefix token, or None if unknown.

    Case, ``_``, ``-`` and spaces are ignored; any token mentioning "normal"
    (``Training_Normal_Videos_Anomaly``, ``Normal_Videos_event``, ``Normal``) is ``Normal``.
    """
    key = _category_key(token)
    if not key:
        return None
    if "normal" in key:
        return "Normal"
    return _CATEGORY_BY_KEY.get(key)


def _category_of_name(name: str) -> str | None:
    """Category implied by a file name: its letters before the first digit."""
    m = re.match(r"([A-Za-z_\- ]+)", name)
    return _canonical_category(m.group(1)) if m else None


def _is_video_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class VideoAnnotation:
    """One test video's ground truth.

    Attributes
    ----------
    category : str
        One of :data:`CATEGORIES`.
    intervals : tuple of (int, int)
        Anomalous events as half-open frame intervals ``(start, end_exclusive)``, 0-based, in
        file order; empty for normal videos.
    """

    category: str
    intervals: tuple[tuple[int, int], ...] = ()

    @property
    def label(self) -> int:
        """Video-level label: 0 for ``Normal``, 1 for the anomaly categories."""
        return int(self.category != "Normal")

    def frame_labels(self, n_frames: int) -> np.ndarray:
        """Per-frame ground truth, int8 of shape (n_frames,): 1 inside an event, else 0.

        Events reaching past ``n_frames`` are cut at the video's end.
        """
        out = np.zeros(int(n_frames), dtype=np.int8)
        for start, end in self.intervals:
            out[max(start, 0):max(min(end, n_frames), 0)] = 1
        return out


@dataclass
class _Entry:
    """A video named by a list or annotation file."""

    name: str
    category: str
    source: str                                   # "Anomaly_Train.txt line 12"
    intervals: tuple[tuple[int, int], ...] | None = None   # None: not annotated temporally


def _problem(file: str, kind: str, reason: str, source: str = "") -> dict:
    return {"file": file, "reason": reason, "kind": kind, "source": source}


def _read_lines(path: Path) -> list[str]:
    # utf-8-sig drops a byte-order mark; splitlines handles \n, \r\n and \r.
    return path.read_text(encoding="utf-8-sig", errors="replace").splitlines()


def _parse_video_list(path: Path) -> tuple[list[_Entry], list[dict]]:
    """Parse a split list (``Anomaly_Train.txt`` / ``Anomaly_Test.txt``): one
    ``<Category>/<file>`` per line; the prefix is a category, not a folder on disk."""
    entries, problems = [], []
    for lineno, raw in enumerate(_read_lines(path), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.name} line {lineno}"
        parts = [p for p in re.split(r"[\\/]+", line) if p]
        name = parts[-1]
        if not _is_video_name(name) or " " in name.strip():
            problems.append(_problem(line, "bad_line", f"{where}: {line!r} is not "
                                     "'<Category>/<video file>'", where))
            continue
        from_folder = _canonical_category(parts[-2]) if len(parts) > 1 else None
        from_name = _category_of_name(name)
        if len(parts) > 1 and from_folder is None and from_name is None:
            problems.append(_problem(name, "bad_line", f"{where}: unknown category "
                                     f"{parts[-2]!r}", where))
            continue
        category = from_folder or from_name
        if category is None:
            problems.append(_problem(name, "bad_line", f"{where}: cannot tell the category of "
                                     f"{name!r}; write it as '<Category>/{name}'", where))
            continue
        if from_folder and from_name and from_folder != from_name:
            problems.append(_problem(name, "bad_line", f"{where}: category {parts[-2]!r} does "
                                     f"not match the file name {name!r}", where))
            continue
        entries.append(_Entry(name, category, where))
    return entries, problems


def _parse_annotation(path: Path) -> tuple[list[_Entry], list[dict]]:
    """Parse the temporal annotation: ``<file> <category> <s1> <e1> <s2> <e2>`` per line."""
    entries, problems = [], []
    for lineno, raw in enumerate(_read_lines(path), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.name} line {lineno}"
        tokens = line.split()
        name = re.split(r"[\\/]+", tokens[0])[-1]

        def bad(reason: str) -> None:
            problems.append(_problem(name, "bad_line", f"{where}: {reason} in {line!r}", where))

        if len(tokens) < 2 or not _is_video_name(name):
            bad("expected '<file> <category> <start1> <end1> <start2> <end2>'")
            continue
        category = _canonical_category(tokens[1])
        if category is None:
            bad(f"unknown category {tokens[1]!r}")
            continue
        from_name = _category_of_name(name)
        if from_name is not None and from_name != category:
            bad(f"category {tokens[1]!r} does not match the file name")
            continue
        numbers = tokens[2:]
        if len(numbers) % 2 or not all(re.fullmatch(r"-?\d+", t) for t in numbers):
            bad("frame numbers must be pairs of integers (-1 -1 for no event)")
            continue
        values = [int(t) for t in numbers]
        intervals, ok = [], True
        for start, end in zip(values[0::2], values[1::2]):
            if start == -1 and end == -1:
                continue
            if start < 0 or end < start:
                bad(f"bad event interval {start} {end}")
                ok = False
                break
            intervals.append((start, end + 1))        # inclusive end -> exclusive
        if not ok:
            continue
        if category == "Normal" and intervals:
            bad("a Normal video with an anomalous event")
            continue
        entries.append(_Entry(name, category, where, tuple(intervals)))
    return entries, problems


def _is_list_format(path: Path) -> bool:
    """True when ``path`` holds one path per line (Anomaly_Test.txt), not the annotation."""
    for raw in _read_lines(path):
        tokens = raw.split()
        if tokens and not tokens[0].startswith("#"):
            return len(tokens) == 1
    return False


def read_temporal_annotation(path: str | os.PathLike) -> dict[str, VideoAnnotation]:
    """Read ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``.

    Each line is ``<file> <category> <start1> <end1> <start2> <end2>`` (whitespace separated,
    any amount; trailing blanks, CRLF line ends and a byte-order mark are fine; more pairs are
    accepted). ``-1 -1`` means no event. The numbers are 0-based frame numbers with both ends
    *inclusive*; they are returned as half-open intervals, ``(start, end + 1)``.

    Parameters
    ----------
    path : str or os.PathLike
        The annotation file; a relative path resolves against the project root.

    Returns
    -------
    dict
        File name (e.g. ``"Abuse028_x264.mp4"``) -> :class:`VideoAnnotation` with ``category``
        and ``intervals`` (tuple of ``(start, end_exclusive)``), in file order.

    Raises
    ------
    ValueError
        Listing every line that does not parse and every file named twice.
    """
    path = resolve_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"temporal annotation {display_path(path)} not found: pass the "
                                f"path of {ANNOTATION_NAME} from the UCF-Crime release")
    entries, problems = _parse_annotation(path)
    out: dict[str, VideoAnnotation] = {}
    for e in entries:
        if e.name in out:
            problems.append(_problem(e.name, "duplicate_line", f"{e.source}: {e.name} is "
                                     "annotated twice", e.source))
            continue
        out[e.name] = VideoAnnotation(e.category, e.intervals or ())
    if problems:
        lines = "\n".join(f"  {p['reason']}" for p in problems[:20])
        raise ValueError(f"{display_path(path)}: {len(problems)} line(s) could not be read; fix "
                         f"them in the file:\n{lines}")
    return out


# --------------------------------------------------------------------------------------------
# finding files and probing videos
# --------------------------------------------------------------------------------------------

def _scan_videos(root: Path) -> dict[str, list[str]]:
    """Every video file under ``root``: file name -> paths relative to root (posix)."""
    found: dict[str, list[str]] = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(folder).relative_to(root)
        for f in files:
            if _is_video_name(f) and not f.startswith("."):
                found.setdefault(f, []).append((rel / f).as_posix())
    return found


def _find_list_file(root: Path, names: tuple[str, ...], what: str) -> Path | None:
    """The shallowest file under ``root`` named like one of ``names`` (in preference order)."""
    for name in names:
        hits = sorted(root.rglob(name), key=lambda p: (len(p.relative_to(root).parts), str(p)))
        hits = [h for h in hits if h.is_file()]
        if not hits:
            continue
        best = [h for h in hits if len(h.parts) == len(hits[0].parts)]
        if len(best) > 1 and len({h.read_bytes() for h in best}) > 1:
            listed = ", ".join(display_path(h) for h in best)
            raise ValueError(f"found several different {name} files under the dataset root "
                             f"({listed}): pass {what} explicitly")
        return hits[0]
    return None


class _NoFrames(Exception):
    """A video that opens but yields no frame."""


def _probe(path: Path, count_frames: bool) -> tuple[float, int]:
    """fps and frame count of one video (:func:`ucf_nb.video.probe_video`).

    The container's frame count is used unless ``count_frames`` is true or the container
    does not give one; then frames are counted by decoding. Raises ``_NoFrames`` for a file
    without frames and :class:`~ucf_nb.video.VideoError` (or ``OSError``) for an unreadable one.
    """
    from .video import VideoError, probe_video

    try:
        info = probe_video(path, count_frames=count_frames)
        if info.n_frames <= 0 and not count_frames:  # no count in the container: decode to count
            info = probe_video(path, count_frames=True)
    except VideoError as err:  # the build report names the file and the fix itself
        raise OSError(err.reason) from None
    if info.n_frames <= 0:
        raise _NoFrames("it opens but has no frames")
    if not np.isfinite(info.fps) or info.fps <= 0:
        raise OSError(f"its frame rate is not readable (got {info.fps})")
    return info.fps, info.n_frames


def _probe_all(paths: list[Path], count_frames: bool, num_workers: int
               ) -> list[tuple[float, int] | Exception]:
    """Probe ``paths`` in a thread pool (OpenCV releases the GIL), with a progress bar."""
    from .progress import progress_bar as tqdm  # widget in Jupyter, text in the book

    results: list[tuple[float, int] | Exception] = [None] * len(paths)  # type: ignore[list-item]

    def one(i: int) -> None:
        try:
            results[i] = _probe(paths[i], count_frames)
        except (OSError, _NoFrames) as exc:  # VideoError and cv2.error are reported as OSError
            results[i] = exc
        except Exception as exc:  # noqa: BLE001 - cv2.error: OpenCV failed inside the file
            if type(exc).__module__.startswith("cv2"):
                results[i] = exc
            else:
                raise

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


# --------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------

class IndexBuildError(ValueError):
    """The build found bad input. ``problems`` is a DataFrame (file, reason, kind, source)."""

    def __init__(self, message: str, problems: pd.DataFrame):
        super().__init__(message)
        self.problems = problems


def skipped_path(index_path: str | os.PathLike) -> Path:
    """Where :func:`build_index` lists skipped videos: ``<index>.skipped.csv`` next to it."""
    p = resolve_path(index_path)
    return p.with_name(p.stem + ".skipped.csv")


def _atomic_write_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            df.to_csv(f, index=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _split_val(train: list[_Entry], val_fraction: float, seed: int) -> set[str]:
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


def _overlap_fraction(starts: np.ndarray, ends: np.ndarray,
                      intervals: tuple[tuple[int, int], ...]) -> np.ndarray:
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


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    return int(value)


def build_index(dataset_root: str | os.PathLike, split_file: str | os.PathLike | None = None,
                annotation_path: str | os.PathLike | None = None,
                index_path: str | os.PathLike | None = None, *, clip_len: int = 32,
                stride: int = 16, val_fraction: float = 0.15, seed: int = 0,
                label_mode: str = "video", anomaly_threshold: float = 0.5,
                count_frames: bool = False, on_missing: str = "raise",
                probe_threads: int = 8, annotation_file: str | os.PathLike | None = None,
                num_workers: int | None = None) -> pd.DataFrame:
    """Build the clip index of UCF-Crime from the dataset as downloaded.

    Videos are found by file name anywhere under ``dataset_root`` (any official layout:
    ``Anomaly-Videos-Part-N/<Category>/``, ``Training-Normal-Videos-Part-N/``,
    ``Testing_Normal_Videos_Anomaly/``, or the merged ``Videos/<Category>/`` tree); the
    folder prefixes in the split list are categories, not folders on disk.

    Splits: ``train`` = the training list minus ``val``; ``val`` = per category a seeded
    ``val_fraction`` of the training videos (whole videos; a category with at least 2
    videos keeps at least 1 in train and gives at least 1 to val); ``test`` = the annotated
    test videos. Labels: ``y = 0`` for ``Normal``, 1 for the 13 anomaly categories; with
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
        Where to write the CSV (atomically). None: only return the DataFrame.
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
        Count frames by decoding every video instead of trusting the container's count
        (slow: reads all of the data).
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
    renamed = rename_deprecated({"annotation_file": annotation_file, "num_workers": num_workers},
                                {"annotation_file": "annotation_path", "num_workers": "probe_threads"},
                                {"annotation_path": (annotation_path, None), "probe_threads": (probe_threads, 8)},
                                where="build_index")
    annotation_path, probe_threads = renamed["annotation_path"], renamed["probe_threads"]
    clip_len = _check_int("clip_len", clip_len, 1)
    stride = _check_int("stride", stride, 1)
    probe_threads = _check_int("probe_threads", probe_threads, 0)
    seed = _check_int("seed", seed, 0)
    if not 0 <= float(val_fraction) < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got val_fraction={val_fraction!r}")
    if label_mode not in ("video", "temporal"):
        raise ValueError(f"label_mode must be 'video' or 'temporal', got {label_mode!r}")
    if not 0 < float(anomaly_threshold) <= 1:
        raise ValueError("anomaly_threshold must be in (0, 1], got "
                         f"anomaly_threshold={anomaly_threshold!r}")
    if on_missing not in ("raise", "skip"):
        raise ValueError(f"on_missing must be 'raise' or 'skip', got {on_missing!r}")

    root_str = os.path.expanduser(os.fspath(dataset_root))
    root = resolve_path(root_str)
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset_root {display_path(root)} is not a folder: download UCF-Crime there, or "
            "run `python -m ucf_nb.demo` and pass dataset_root='demo/UCF_Crime'")
    root_prefix = PurePosixPath(Path(root_str).as_posix())

    if split_file is None:
        split_path = _find_list_file(root, (TRAIN_LIST_NAME,), "split_file")
        if split_path is None:
            raise FileNotFoundError(f"{TRAIN_LIST_NAME} not found under {display_path(root)}: "
                                    "pass split_file= its path")
    else:
        split_path = resolve_path(split_file)
        if not split_path.is_file():
            raise FileNotFoundError(f"split_file {display_path(split_path)} not found: pass "
                                    f"the path of {TRAIN_LIST_NAME}")
    if annotation_path is None:
        ann_path = _find_list_file(root, (ANNOTATION_NAME, TEST_LIST_NAME), "annotation_path")
        if ann_path is None:
            raise FileNotFoundError(f"{ANNOTATION_NAME} (or {TEST_LIST_NAME}) not found under "
                                    f"{display_path(root)}: pass annotation_path= its path")
    else:
        ann_path = resolve_path(annotation_path)
        if not ann_path.is_file():
            raise FileNotFoundError(f"annotation_path {display_path(ann_path)} not found: pass "
                                    f"the path of {ANNOTATION_NAME}")

    train_entries, problems = _parse_video_list(split_path)
    if _is_list_format(ann_path):
        test_entries, more = _parse_video_list(ann_path)
        if label_mode == "temporal":
            raise ValueError(f"label_mode='temporal' needs frame intervals, but "
                             f"{display_path(ann_path)} is a plain list: pass "
                             f"annotation_path={ANNOTATION_NAME!r} or use label_mode='video'")
    else:
        test_entries, more = _parse_annotation(ann_path)
    problems += more

    # one entry per video: repeated lines and videos in both lists are problems
    chosen: dict[str, tuple[str, _Entry]] = {}
    for split, entries in (("test", test_entries), ("train", train_entries)):
        for e in entries:
            if e.name in chosen:
                other_split, other = chosen[e.name]
                if other_split == split:
                    problems.append(_problem(e.name, "duplicate_line", f"{e.source}: "
                                             f"{e.name} is listed again (first: {other.source})",
                                             e.source))
                else:
                    problems.append(_problem(e.name, "in_both_lists", f"{e.source}: {e.name} "
                                             f"is also a test video ({other.source}); it is kept "
                                             "in test only", e.source))
                continue
            chosen[e.name] = (split, e)

    # find every listed file by name under the root
    on_disk = _scan_videos(root)
    lower: dict[str, list[str]] = {}
    for name, rels in on_disk.items():
        lower.setdefault(name.lower(), []).extend(rels)
    located: list[tuple[str, _Entry, str]] = []
    for name, (split, e) in chosen.items():
        rels = on_disk.get(name) or lower.get(name.lower(), [])
        if not rels:
            problems.append(_problem(name, "missing", f"{e.source}: {name} is not anywhere "
                                     f"under {display_path(root)}", e.source))
        elif len(rels) > 1:
            where = ", ".join(rels)
            problems.append(_problem(name, "duplicate_name", f"{e.source}: {name} is found "
                                     f"{len(rels)} times under the dataset root ({where}); keep "
                                     "one copy", e.source))
        else:
            located.append((split, e, rels[0]))

    results = _probe_all([root / rel for _, _, rel in located], count_frames, probe_threads)
    videos: list[tuple[str, _Entry, str, float, int]] = []
    for (split, e, rel), res in zip(located, results):
        if isinstance(res, _NoFrames):
            problems.append(_problem(e.name, "zero_frames", f"{rel}: {res}", e.source))
        elif isinstance(res, Exception):
            problems.append(_problem(e.name, "unreadable", f"{rel}: {res}", e.source))
        elif res[1] < clip_len:
            problems.append(_problem(e.name, "too_short", f"{rel}: {res[1]} frames, fewer than "
                                     f"clip_len={clip_len}, so no clip fits", e.source))
        else:
            videos.append((split, e, rel, res[0], res[1]))

    problem_frame = pd.DataFrame(problems, columns=["file", "reason", "kind", "source"])
    if problems and on_missing == "raise":
        counts = problem_frame["kind"].value_counts()
        summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
        shown = "\n".join(f"  [{p['kind']}] {p['reason']}" for p in problems[:25])
        more_note = f"\n  ... and {len(problems) - 25} more" if len(problems) > 25 else ""
        raise IndexBuildError(
            f"the index was not built: {len(problems)} problem(s) with the input ({summary}):\n"
            f"{shown}{more_note}\nFix the files or lists, or pass on_missing='skip' to build "
            "without these videos (they are then listed in <index>.skipped.csv).",
            problem_frame)

    val_names = _split_val([e for split, e, *_ in videos if split == "train"],
                           float(val_fraction), seed)
    per_split: dict[str, list] = {s: [] for s in SPLITS}
    for split, e, rel, fps, n in videos:
        if split == "train" and e.name in val_names:
            split = "val"
        per_split[split].append((e, rel, fps, n))

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
            if split == "test" and label_mode == "temporal":
                y = (frac >= float(anomaly_threshold)).astype(np.int64)
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
        raise ValueError(f"no clip could be made from {display_path(root)}: every listed video "
                         "was skipped (see the skipped list) or is shorter than clip_len")
    df = pd.DataFrame({c: np.concatenate(v) for c, v in columns.items()})
    for c in ("split", "category", "path", "video"):
        df[c] = df[c].astype(str)

    if index_path is not None:
        out = resolve_path(index_path)
        _atomic_write_csv(df, out)
        skipped = skipped_path(out)
        if on_missing == "skip":
            _atomic_write_csv(problem_frame, skipped)
        elif skipped.exists():
            skipped.unlink()  # a stale list from an earlier build would mislead
    if problems:
        import warnings

        where = (f"listed in {display_path(skipped_path(index_path))}" if index_path is not None
                 else "first: " + "; ".join(p["reason"] for p in problems[:5]))
        warnings.warn(f"build_index skipped {problem_frame['file'].nunique()} video(s) or "
                      f"line(s) ({len(problems)} problems), {where}", stacklevel=2)
    return df


# --------------------------------------------------------------------------------------------
# read and remap
# --------------------------------------------------------------------------------------------

def read_index(index_path: str | os.PathLike = "processed/index_clips.csv",
               video_root: str | os.PathLike | None = None) -> pd.DataFrame:
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
        raise FileNotFoundError(f"{display_path(path)} not found: run "
                                f"notebooks/00_build_index.ipynb first{demo_hint(path, 'index_path')}")
    df = pd.read_csv(path, dtype={c: str for c in ("split", "category", "path", "video")},
                     keep_default_na=True)
    absent = [c for c in INDEX_COLUMNS if c not in df.columns]
    if absent:
        raise ValueError(f"{display_path(path)} is not a clip index: it lacks the columns {absent} "
                         "(write one with notebooks/00_build_index.ipynb)")
    df.index = pd.RangeIndex(len(df))
    if video_root is not None:
        df = remap_video_root(df, video_root)
    return df


def _split_parts(path: str) -> list[str]:
    return [p for p in re.split(r"[\\/]+", path) if p]


def _relative_candidates(parts: list[str]) -> list[list[str]]:
    """Possible dataset-relative parts of a path, most specific first: from each official
    top-level folder, then from a category folder directly above the file."""
    cands = [parts[i:] for i in range(len(parts) - 1) if _OFFICIAL_FOLDER.match(parts[i])]
    if len(parts) >= 2 and _canonical_category(parts[-2]) is not None:
        cands.append(parts[-2:])
    return cands


def remap_video_root(df: pd.DataFrame, video_root: str | os.PathLike) -> pd.DataFrame:
    """Rewrite ``df["path"]`` to point into ``video_root``, keeping the dataset-relative part.

    An index written elsewhere (``/home/someone/UCF_Crime/Anomaly-Videos-Part-1/Abuse/
    Abuse001_x264.mp4``, or a Windows path) is moved to ``video_root`` by the part of each
    path that starts at an official top-level folder (``Anomaly-Videos-Part-N``,
    ``Anomaly-Videos``, ``Training-Normal-Videos-Part-N``, ``Training_Normal_Videos_Anomaly``,
    ``Testing_Normal_Videos_Anomaly``, ``Normal_Videos_for_Event_Recognition``,
    ``Normal_Videos_event``) or at a category folder (``Abuse/``...). The first candidate that
    exists under ``video_root`` wins; otherwise the file is looked up by its name under
    ``video_root`` (it must be unique); otherwise the official-folder part is used as is.

    Parameters
    ----------
    df : pandas.DataFrame
        An index with a ``path`` column. Not modified.
    video_root : str or os.PathLike
        This machine's dataset root (relative: against the project root, and the new paths
        stay relative).

    Returns
    -------
    pandas.DataFrame
        A copy with the new ``path`` column.

    Raises
    ------
    ValueError
        Naming how many videos could not be placed and the first of them.
    """
    if "path" not in df.columns:
        raise ValueError("the index has no 'path' column: pass a DataFrame read with read_index")
    root_str = os.path.expanduser(os.fspath(video_root))
    root = resolve_path(root_str)
    if not root.is_dir():
        raise FileNotFoundError(f"video_root {display_path(root)} is not a folder: pass the "
                                "UCF-Crime dataset root on this machine")
    prefix = PurePosixPath(Path(root_str).as_posix())
    by_name: dict[str, list[str]] | None = None
    new: dict[str, str] = {}
    failed: list[str] = []
    for old in pd.unique(df["path"].astype(str)):
        parts = _split_parts(old)
        cands = _relative_candidates(parts)
        hit = next((c for c in cands if root.joinpath(*c).is_file()), None)
        if hit is None:
            if by_name is None:
                by_name = _scan_videos(root)
            rels = by_name.get(parts[-1] if parts else "", [])
            if len(rels) == 1:
                new[old] = (prefix / rels[0]).as_posix()
                continue
            if not cands:
                failed.append(old if len(rels) == 0 else f"{old} (found {len(rels)} times)")
                continue
            hit = cands[0]
        new[old] = (prefix / PurePosixPath(*hit)).as_posix()
    if failed:
        shown = "; ".join(failed[:5])
        raise ValueError(f"cannot remap {len(failed)} video path(s) to video_root "
                         f"{display_path(root)}: no official UCF-Crime folder in the path and no "
                         f"single file of that name under video_root (first: {shown}); pass the "
                         "folder that holds the videos")
    out = df.copy()
    out["path"] = df["path"].astype(str).map(new).astype(str)
    return out


# --------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------

class IndexValidationError(ValueError):
    """An index failed :func:`validate_index`; ``report`` holds the full :class:`IndexReport`."""

    def __init__(self, message: str, report: "IndexReport"):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class IndexCheck:
    """The outcome of one check: ``n_failed`` offending rows (or columns), the first of them
    as index row numbers, and how to fix a failure."""

    name: str
    description: str
    n_failed: int
    first_rows: tuple[int, ...] = ()
    fix: str = ""
    detail: str = ""
    ran: bool = True

    @property
    def ok(self) -> bool:
        return self.ran and self.n_failed == 0


@dataclass
class IndexReport:
    """What :func:`validate_index` found: one :class:`IndexCheck` per check."""

    checks: list[IndexCheck]
    n_rows: int
    n_videos: int

    @property
    def ok(self) -> bool:
        """True when every check ran and passed."""
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[IndexCheck]:
        return [c for c in self.checks if not c.ok]

    def __getitem__(self, name: str) -> IndexCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; checks: {[c.name for c in self.checks]}")

    def to_frame(self) -> pd.DataFrame:
        """One row per check: check, description, status, failed, first_rows, detail."""
        return pd.DataFrame({
            "check": [c.name for c in self.checks],
            "description": [c.description for c in self.checks],
            "status": ["ok" if c.ok else ("not run" if not c.ran else "FAILED")
                       for c in self.checks],
            "failed": [c.n_failed for c in self.checks],
            "first_rows": [", ".join(map(str, c.first_rows)) for c in self.checks],
            "detail": [c.detail for c in self.checks],
        })

    def message(self) -> str:
        """One paragraph naming each failed check, its first rows and the fix."""
        if self.ok:
            return f"index ok: {self.n_rows} rows, {self.n_videos} videos, all checks passed"
        parts = []
        for c in self.failed:
            if not c.ran:
                parts.append(f"{c.name}: not run ({c.detail})")
                continue
            rows = f", first rows {', '.join(map(str, c.first_rows))}" if c.first_rows else ""
            detail = f"; {c.detail}" if c.detail else ""
            parts.append(f"{c.name} failed ({c.description}: {c.n_failed} offending{rows}"
                         f"{detail}): {c.fix}")
        return (f"index check failed on {len(self.failed)} of {len(self.checks)} checks "
                f"({self.n_rows} rows): " + " | ".join(parts))

    def raise_if_failed(self) -> None:
        """Raise :class:`IndexValidationError` with :meth:`message` unless :attr:`ok`."""
        if not self.ok:
            raise IndexValidationError(self.message(), self)

    def __str__(self) -> str:
        return self.message() + "\n" + self.to_frame().to_string(index=False)

    def _repr_html_(self) -> str:
        head = "index ok" if self.ok else f"{len(self.failed)} check(s) FAILED"
        return (f"<p><b>{head}</b>: {self.n_rows} rows, {self.n_videos} videos</p>"
                + self.to_frame().to_html(index=False))


_FIXES = {
    "columns": "rebuild the index with ucf_nb.build_index (notebooks/00_build_index.ipynb)",
    "dtypes": "integer columns must hold whole numbers and fps a number; rebuild the index",
    "nans": "fill or drop the empty cells, or rebuild the index",
    "split_values": "split must be train, val or test",
    "start_before_end": "every clip needs end_frame > start_frame (end_frame is exclusive)",
    "end_within_video": "clips must end at or before n_frames; rebuild with count_frames=True "
                        "if the container's frame counts were wrong",
    "clip_length": "end_frame - start_frame must equal clip_len; rebuild the index",
    "clip_grid": "clip k must start at k * stride; rebuild the index",
    "label_values": "y must be 0 or 1",
    "label_category": "y must be 0 for Normal and 1 for the 13 anomaly categories (test rows "
                      "may be 0 when labelled from the temporal annotation), with the official "
                      "category names",
    "duplicate_clips": "each (path, clip_idx) must appear once; drop the repeated rows",
    "split_leak": "a video must belong to one split; rebuild the index",
    "missing_files": "pass video_root= the dataset root on this machine (remap_video_root), or "
                     "restore the files",
}


def validate_index(index: pd.DataFrame | str | os.PathLike, *, strict: bool = True,
                   check_files: bool = True) -> IndexReport:
    """Check an index for the errors that would silently spoil the later steps.

    Checks (vectorised; file existence is tested once per video): ``columns`` (the
    :data:`INDEX_COLUMNS` are present), ``dtypes`` (integer columns hold whole numbers, fps a
    number), ``nans`` (no empty cells in the required columns; ``anomaly_frac`` may be empty),
    ``split_values``, ``start_before_end`` (end_frame > start_frame), ``end_within_video``
    (end_frame <= n_frames), ``clip_length`` (end_frame - start_frame == clip_len),
    ``clip_grid`` (start_frame == clip_idx * stride), ``label_values`` (y in {0, 1}),
    ``label_category`` (y agrees with the category), ``duplicate_clips`` (path, clip_idx),
    ``split_leak`` (a video, by file name, in more than one split) and ``missing_files``.

    Parameters
    ----------
    index : pandas.DataFrame or path
        The index (row labels are reported as row numbers: use :func:`read_index`), or the
        path of its CSV.
    strict : bool
        Raise :class:`IndexValidationError` when any check fails (one message naming each
        failed check, its first offending row numbers and the fix). False: only return the
        report.
    check_files : bool
        Test that every video file exists (paths resolve against the project root).

    Returns
    -------
    IndexReport
    """
    df = read_index(index) if isinstance(index, (str, os.PathLike)) else index
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"index must be a DataFrame or a CSV path, got {type(df).__name__}")
    # offending rows are named by their index labels (= index row numbers after read_index)
    labels = (df.index.to_numpy() if pd.api.types.is_integer_dtype(df.index)
              else np.arange(len(df)))
    checks: list[IndexCheck] = []

    def add(name: str, description: str, bad: np.ndarray | pd.Series, detail: str = "") -> None:
        bad = np.asarray(bad, dtype=bool)
        first = tuple(int(x) for x in labels[np.flatnonzero(bad)[:10]])
        checks.append(IndexCheck(name, description, int(bad.sum()), first, _FIXES[name], detail))

    missing_cols = [c for c in INDEX_COLUMNS if c not in df.columns]
    checks.append(IndexCheck("columns", "required columns present", len(missing_cols), (),
                             _FIXES["columns"], f"missing: {', '.join(missing_cols)}"
                             if missing_cols else ""))
    video_key = None
    if missing_cols:
        for name in list(_FIXES)[1:]:
            checks.append(IndexCheck(name, name.replace("_", " "), 0, (), _FIXES[name],
                                     "needs the missing columns", ran=False))
    else:
        num = {c: pd.to_numeric(df[c], errors="coerce") for c in _INT_COLUMNS + ("fps",)}
        nan_cells = {c: df[c].isna().to_numpy() for c in INDEX_COLUMNS}
        nonnum = np.zeros(len(df), dtype=bool)
        for c, v in num.items():
            vals = v.to_numpy(dtype=np.float64, na_value=np.nan)
            bad_c = ~nan_cells[c] & np.isnan(vals)
            if c != "fps":
                with np.errstate(invalid="ignore"):
                    bad_c |= ~np.isnan(vals) & (np.floor(vals) != vals)
            nonnum |= bad_c
        for c in _STR_COLUMNS:
            nonnum |= ~nan_cells[c] & ~df[c].map(lambda v: isinstance(v, str)).to_numpy()
        add("dtypes", "integer columns hold whole numbers, fps a number", nonnum)
        any_nan = np.logical_or.reduce([nan_cells[c] for c in INDEX_COLUMNS])
        empty_str = np.logical_or.reduce([df[c].astype(str).str.strip().eq("").to_numpy()
                                          for c in _STR_COLUMNS])
        add("nans", "no empty cells in the required columns", any_nan | empty_str)
        split = df["split"].astype(str)
        add("split_values", "split is train, val or test",
            ~nan_cells["split"] & ~split.isin(SPLITS).to_numpy())

        f = {c: v.to_numpy(dtype=np.float64, na_value=np.nan) for c, v in num.items()}
        with np.errstate(invalid="ignore"):
            def failing(cond: np.ndarray, *cols: str) -> np.ndarray:
                valid = np.logical_and.reduce([~np.isnan(f[c]) for c in cols])
                return valid & ~cond

            add("start_before_end", "end_frame > start_frame",
                failing(f["end_frame"] > f["start_frame"], "end_frame", "start_frame"))
            add("end_within_video", "end_frame <= n_frames",
                failing(f["end_frame"] <= f["n_frames"], "end_frame", "n_frames"))
            add("clip_length", "end_frame - start_frame == clip_len",
                failing(f["end_frame"] - f["start_frame"] == f["clip_len"],
                        "end_frame", "start_frame", "clip_len"))
            add("clip_grid", "start_frame == clip_idx * stride, clip_idx >= 0",
                failing((f["start_frame"] == f["clip_idx"] * f["stride"]) & (f["clip_idx"] >= 0),
                        "start_frame", "clip_idx", "stride"))
            y = f["y"]
            add("label_values", "y in {0, 1}", failing(np.isin(y, (0, 1)), "y"))
            category = df["category"].astype(str).to_numpy()
            known = np.isin(category, CATEGORIES)
            normal = category == "Normal"
            if "anomaly_frac" in df.columns:
                frac = pd.to_numeric(df["anomaly_frac"], errors="coerce").to_numpy(
                    dtype=np.float64, na_value=np.nan)
            else:
                frac = np.full(len(df), np.nan)
            temporal_zero = (split.to_numpy() == "test") & (frac < 1)
            consistent = known & np.where(normal, y == 0, (y == 1) | ((y == 0) & temporal_zero))
            unknown = sorted(set(category[~known & ~nan_cells["category"]]))[:5]
            add("label_category", "y agrees with the category",
                failing(consistent, "y") & np.isin(y, (0, 1)) & ~nan_cells["category"],
                f"unknown categories: {', '.join(unknown)}" if unknown else "")

        add("duplicate_clips", "(path, clip_idx) unique",
            df.duplicated(["path", "clip_idx"], keep=False).to_numpy())
        if "video" in df.columns:
            video_key = df["video"].astype(str)
        else:
            video_key = df["path"].astype(str).str.replace("\\", "/", regex=False) \
                .str.rsplit("/", n=1).str[-1]
        n_splits = split.groupby(video_key.to_numpy()).nunique()
        leaked = n_splits.index[n_splits > 1]
        add("split_leak", "each video in one split", video_key.isin(leaked).to_numpy(),
            f"{len(leaked)} videos, first: {', '.join(map(str, leaked[:3]))}" if len(leaked)
            else "")
        if check_files:
            paths = df["path"].astype(str)
            unique = pd.unique(paths[~nan_cells["path"]])
            gone = [p for p in unique if not resolve_path(p).is_file()]
            add("missing_files", "every video file exists",
                paths.isin(gone).to_numpy() & ~nan_cells["path"],
                f"{len(gone)} of {len(unique)} videos missing, first: "
                f"{', '.join(display_path(p) for p in gone[:3])}" if gone else "")
        else:
            checks.append(IndexCheck("missing_files", "every video file exists", 0, (),
                                     _FIXES["missing_files"], "skipped (check_files=False)"))

    if video_key is not None:
        n_videos = int(video_key.nunique())
    else:
        n_videos = int(df["path"].nunique()) if "path" in df.columns else 0
    report = IndexReport(checks, len(df), n_videos)
    if strict:
        report.raise_if_failed()
    return report
