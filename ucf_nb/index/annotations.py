"""What the UCF-Crime release says about its videos: categories, split lists, temporal annotation.

- Split lists (``Anomaly_Train.txt``, ``Anomaly_Test.txt``): one ``<Category>/<file>`` per
  line; the prefix is a category, not a folder on disk.
- Temporal annotation (``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``): the numbers
  are read as 0-based frame numbers with *both ends inclusive*; they are returned half-open,
  so ``Abuse028_x264.mp4 Abuse 165 240 -1 -1`` becomes the interval ``(165, 241)`` (see
  :func:`read_temporal_annotation`), and :func:`frame_labels` turns intervals into per-frame
  labels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..paths import display_path, resolve_path

__all__ = ["SPLITS", "ANOMALY_CATEGORIES", "CATEGORIES", "VideoAnnotation", "read_temporal_annotation", "frame_labels"]

SPLITS: tuple[str, ...] = ("train", "val", "test")
"""The splits of the index, in index order."""


ANOMALY_CATEGORIES: tuple[str, ...] = (
    "Abuse",
    "Arrest",
    "Arson",
    "Assault",
    "Burglary",
    "Explosion",
    "Fighting",
    "RoadAccidents",
    "Robbery",
    "Shooting",
    "Shoplifting",
    "Stealing",
    "Vandalism",
)
"""The 13 anomaly categories of UCF-Crime (label 1)."""


CATEGORIES: tuple[str, ...] = ANOMALY_CATEGORIES + ("Normal",)
"""All 14 categories; ``Normal`` has label 0."""


TRAIN_LIST_NAME = "Anomaly_Train.txt"
ANNOTATION_NAME = "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
TEST_LIST_NAME = "Anomaly_Test.txt"


VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".webm", ".wmv", ".flv"})


def _category_key(token: str) -> str:
    return re.sub(r"[^a-z]", "", token.lower())


_CATEGORY_BY_KEY = {_category_key(c): c for c in ANOMALY_CATEGORIES}
_CATEGORY_BY_KEY.update({"roadaccident": "RoadAccidents", "shoplift": "Shoplifting"})


def canonical_category(token: str) -> str | None:
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
    return canonical_category(m.group(1)) if m else None


def is_video_name(name: str) -> bool:
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
        return frame_labels(self.intervals, n_frames)


def frame_labels(intervals: Iterable[tuple[int, int]], n_frames: int) -> np.ndarray:
    """Per-frame ground truth of one video, int8 of shape (n_frames,): 1 inside any of the
    half-open ``intervals`` ``(start, end_exclusive)``, else 0. Intervals reaching past
    ``n_frames`` are cut at the video's end."""
    out = np.zeros(int(n_frames), dtype=np.int8)
    for start, end in intervals:
        out[max(start, 0) : max(min(end, n_frames), 0)] = 1
    return out


@dataclass
class ListEntry:
    """A video named by a list or annotation file."""

    name: str
    category: str
    source: str  # "Anomaly_Train.txt line 12"
    intervals: tuple[tuple[int, int], ...] | None = None  # None: not annotated temporally


def problem_row(file: str, kind: str, reason: str, source: str = "") -> dict:
    return {"file": file, "reason": reason, "kind": kind, "source": source}


def _read_lines(path: Path) -> list[str]:
    # utf-8-sig drops a byte-order mark; splitlines handles \n, \r\n and \r.
    return path.read_text(encoding="utf-8-sig", errors="replace").splitlines()


def _content_lines(path: Path) -> Iterator[tuple[str, str]]:
    """("<file> line <n>", stripped line) of each line that is neither blank nor a ``#`` comment."""
    for lineno, raw in enumerate(_read_lines(path), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield f"{path.name} line {lineno}", line


def parse_video_list(path: Path) -> tuple[list[ListEntry], list[dict]]:
    """Parse a split list (``Anomaly_Train.txt`` / ``Anomaly_Test.txt``): one
    ``<Category>/<file>`` per line; the prefix is a category, not a folder on disk."""
    entries, problems = [], []
    for where, line in _content_lines(path):
        parts = [p for p in re.split(r"[\\/]+", line) if p]
        name = parts[-1]
        if not is_video_name(name) or " " in name.strip():
            problems.append(problem_row(line, "bad_line", f"{where}: {line!r} is not '<Category>/<video file>'", where))
            continue
        from_folder = canonical_category(parts[-2]) if len(parts) > 1 else None
        from_name = _category_of_name(name)
        if len(parts) > 1 and from_folder is None and from_name is None:
            problems.append(problem_row(name, "bad_line", f"{where}: unknown category {parts[-2]!r}", where))
            continue
        category = from_folder or from_name
        if category is None:
            problems.append(
                problem_row(
                    name,
                    "bad_line",
                    f"{where}: cannot tell the category of {name!r}; write it as '<Category>/{name}'",
                    where,
                )
            )
            continue
        if from_folder and from_name and from_folder != from_name:
            problems.append(
                problem_row(
                    name, "bad_line", f"{where}: category {parts[-2]!r} does not match the file name {name!r}", where
                )
            )
            continue
        entries.append(ListEntry(name, category, where))
    return entries, problems


def parse_annotation(path: Path) -> tuple[list[ListEntry], list[dict]]:
    """Parse the temporal annotation: ``<file> <category> <s1> <e1> <s2> <e2>`` per line."""
    entries, problems = [], []
    for where, line in _content_lines(path):
        tokens = line.split()
        name = re.split(r"[\\/]+", tokens[0])[-1]

        def bad(reason: str) -> None:  # called in this iteration only
            problems.append(problem_row(name, "bad_line", f"{where}: {reason} in {line!r}", where))  # noqa: B023

        if len(tokens) < 2 or not is_video_name(name):
            bad("expected '<file> <category> <start1> <end1> <start2> <end2>'")
            continue
        category = canonical_category(tokens[1])
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
            intervals.append((start, end + 1))  # inclusive end -> exclusive
        if not ok:
            continue
        if category == "Normal" and intervals:
            bad("a Normal video with an anomalous event")
            continue
        entries.append(ListEntry(name, category, where, tuple(intervals)))
    return entries, problems


def is_list_format(path: Path) -> bool:
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
        raise FileNotFoundError(
            f"temporal annotation {display_path(path)} not found: pass the "
            f"path of {ANNOTATION_NAME} from the UCF-Crime release"
        )
    entries, problems = parse_annotation(path)
    out: dict[str, VideoAnnotation] = {}
    for e in entries:
        if e.name in out:
            problems.append(problem_row(e.name, "duplicate_line", f"{e.source}: {e.name} is annotated twice", e.source))
            continue
        out[e.name] = VideoAnnotation(e.category, e.intervals or ())
    if problems:
        lines = "\n".join(f"  {p['reason']}" for p in problems[:20])
        raise ValueError(
            f"{display_path(path)}: {len(problems)} line(s) could not be read; fix them in the file:\n{lines}"
        )
    return out
