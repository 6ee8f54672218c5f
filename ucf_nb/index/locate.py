"""Find UCF-Crime's files wherever they were unpacked, and move an index to another machine.

Videos are found by file name anywhere under the dataset root (any official layout:
``Anomaly-Videos-Part-N/<Category>/``, ``Training-Normal-Videos-Part-N/``,
``Testing_Normal_Videos_Anomaly/``, or the merged ``Videos/<Category>/`` tree);
:func:`remap_video_root` points an index's ``path`` column at this machine's copy.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

import pandas as pd

from ..checks import utf8_path_problem
from ..paths import display_path, resolve_path
from .annotations import canonical_category, is_video_name

__all__ = ["remap_video_root"]

# Top-level folders of the official releases (the Dropbox zips and the merged "Videos/" tree).
_OFFICIAL_FOLDER = re.compile(
    r"^(anomaly[-_ ]?videos([-_ ]?part[-_ ]?\d+)?"
    r"|training[-_ ]?normal[-_ ]?videos([-_ ]?part[-_ ]?\d+|[-_ ]?anomaly)?"
    r"|testing[-_ ]?normal[-_ ]?videos([-_ ]?anomaly)?"
    r"|normal[-_ ]?videos[-_ ]?(for[-_ ]?event[-_ ]?recognition|event))$",
    re.IGNORECASE,
)


def scan_videos(root: Path) -> dict[str, list[str]]:
    """Every video file under ``root``: file name -> paths relative to root (posix)."""
    return scan_video_entries(root)[0]


def what_is(path: str | os.PathLike) -> str | None:
    """What a path that is not a regular file is ("a folder", "a FIFO (named pipe)"...); None
    for a regular file, or for nothing at all."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken symbolic link" if os.path.islink(path) else None
    except OSError as exc:
        return f"not readable ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    for test, what in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return what
    return "not a regular file"


def scan_video_entries(root: Path) -> tuple[dict[str, list[str]], dict[str, list[tuple[str, str]]]]:
    """(regular files, other entries) under ``root`` with a video's name: file name -> paths
    relative to root (posix); the other entries (a folder named ``X.mp4``, a FIFO, a socket,
    a device, a broken link) as (path, what it is). Opening a FIFO would wait for ever, and
    none of them is a video: they are reported, never probed."""
    found: dict[str, list[str]] = {}
    odd: dict[str, list[tuple[str, str]]] = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(folder).relative_to(root)
        for name in [*files, *dirs]:
            if not is_video_name(name) or name.startswith("."):
                continue
            what = what_is(os.path.join(folder, name))
            if what is None:
                found.setdefault(name, []).append((rel / name).as_posix())
            else:
                odd.setdefault(name, []).append(((rel / name).as_posix(), what))
    return found, odd


def find_list_file(root: Path, names: tuple[str, ...], what: str) -> Path | None:
    """The shallowest file under ``root`` named like one of ``names`` (in preference order)."""
    for name in names:
        hits = sorted(root.rglob(name), key=lambda p: (len(p.relative_to(root).parts), str(p)))
        hits = [h for h in hits if h.is_file()]
        if not hits:
            continue
        best = [h for h in hits if len(h.parts) == len(hits[0].parts)]
        if len(best) > 1 and len({h.read_bytes() for h in best}) > 1:
            listed = ", ".join(display_path(h) for h in best)
            raise ValueError(
                f"found several different {name} files under the dataset root ({listed}): pass {what} explicitly"
            )
        return hits[0]
    return None


def _split_parts(path: str) -> list[str]:
    return [p for p in re.split(r"[\\/]+", path) if p]


def _relative_candidates(parts: list[str]) -> list[list[str]]:
    """Possible dataset-relative parts of a path, most specific first: from each official
    top-level folder, then from a category folder directly above the file."""
    cands = [parts[i:] for i in range(len(parts) - 1) if _OFFICIAL_FOLDER.match(parts[i])]
    if len(parts) >= 2 and canonical_category(parts[-2]) is not None:
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

    root_str = os.path.expanduser(os.fsdecode(video_root))
    root = resolve_path(root_str)
    if utf8_path_problem(root):
        raise ValueError(
            f"video_root cannot be used: {utf8_path_problem(root)}; rename it (or link it from a "
            "folder whose path is UTF-8) and pass that path"
        )
    if not root.is_dir():
        raise FileNotFoundError(
            f"video_root {display_path(root)} is not a folder: pass the UCF-Crime dataset root on this machine"
        )
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
                by_name = scan_videos(root)
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
        raise ValueError(
            f"cannot remap {len(failed)} video path(s) to video_root "
            f"{display_path(root)}: no official UCF-Crime folder in the path and no "
            f"single file of that name under video_root (first: {shown}); pass the "
            "folder that holds the videos"
        )
    out = df.copy()
    out["path"] = df["path"].astype(str).map(new).astype(str)
    return out
