"""Check a clip index for the errors that would silently spoil the later steps.

:func:`validate_index` runs one small, vectorised check per rule (columns, dtypes, empty
cells, split names, clip ranges, labels against categories, duplicates, split leaks, missing
files) and returns an :class:`IndexReport` naming, for each failure, the first offending
index row numbers and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..checks import UcfNbError
from ..paths import display_path, resolve_path
from .annotations import CATEGORIES, SPLITS
from .build import INDEX_COLUMNS, read_index

__all__ = ["IndexValidationError", "IndexCheck", "IndexReport", "validate_index"]

_INT_COLUMNS = ("y", "clip_idx", "start_frame", "end_frame", "clip_len", "stride", "n_frames")
_STR_COLUMNS = ("split", "category", "path")


class IndexValidationError(UcfNbError, ValueError):
    """An index failed :func:`validate_index`; ``report`` holds the full :class:`IndexReport`."""

    def __init__(self, message: str, report: IndexReport):
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
        return pd.DataFrame(
            {
                "check": [c.name for c in self.checks],
                "description": [c.description for c in self.checks],
                "status": ["ok" if c.ok else ("not run" if not c.ran else "FAILED") for c in self.checks],
                "failed": [c.n_failed for c in self.checks],
                "first_rows": [", ".join(map(str, c.first_rows)) for c in self.checks],
                "detail": [c.detail for c in self.checks],
            }
        )

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
            parts.append(f"{c.name} failed ({c.description}: {c.n_failed} offending{rows}{detail}): {c.fix}")
        return (
            f"index check failed on {len(self.failed)} of {len(self.checks)} checks "
            f"({self.n_rows} rows): " + " | ".join(parts)
        )

    def raise_if_failed(self) -> None:
        """Raise :class:`IndexValidationError` with :meth:`message` unless :attr:`ok`."""
        if not self.ok:
            raise IndexValidationError(self.message(), self)

    def __str__(self) -> str:
        return self.message() + "\n" + self.to_frame().to_string(index=False)

    def _repr_html_(self) -> str:
        head = "index ok" if self.ok else f"{len(self.failed)} check(s) FAILED"
        return f"<p><b>{head}</b>: {self.n_rows} rows, {self.n_videos} videos</p>" + self.to_frame().to_html(
            index=False
        )


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
    "missing_files": "pass video_root= the dataset root on this machine (remap_video_root), or restore the files",
}


def validate_index(
    index: pd.DataFrame | str | os.PathLike, *, strict: bool = True, check_files: bool = True
) -> IndexReport:
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
    checks = _Checks(df)
    missing_cols = [c for c in INDEX_COLUMNS if c not in df.columns]
    checks.checks.append(
        IndexCheck(
            "columns",
            "required columns present",
            len(missing_cols),
            (),
            _FIXES["columns"],
            f"missing: {', '.join(missing_cols)}" if missing_cols else "",
        )
    )
    video_key = None
    if missing_cols:
        for name in list(_FIXES)[1:]:
            checks.checks.append(
                IndexCheck(name, name.replace("_", " "), 0, (), _FIXES[name], "needs the missing columns", ran=False)
            )
    else:
        nan_cells = {c: df[c].isna().to_numpy() for c in INDEX_COLUMNS}
        num = _check_cells(df, nan_cells, checks)
        f = {c: v.to_numpy(dtype=np.float64, na_value=np.nan) for c, v in num.items()}
        _check_clip_ranges(f, checks)
        _check_labels(df, f, nan_cells, checks)
        video_key = _check_videos(df, nan_cells, checks, check_files=check_files)

    if video_key is not None:
        n_videos = int(video_key.nunique())
    else:
        n_videos = int(df["path"].nunique()) if "path" in df.columns else 0
    report = IndexReport(checks.checks, len(df), n_videos)
    if strict:
        report.raise_if_failed()
    return report


class _Checks:
    """Collects :class:`IndexCheck` results; offending rows are named by the index labels of
    ``df`` (= index row numbers after :func:`read_index`)."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.labels = df.index.to_numpy() if pd.api.types.is_integer_dtype(df.index) else np.arange(len(df))
        self.checks: list[IndexCheck] = []

    def add(self, name: str, description: str, bad: np.ndarray | pd.Series, detail: str = "") -> None:
        bad = np.asarray(bad, dtype=bool)
        first = tuple(int(x) for x in self.labels[np.flatnonzero(bad)[:10]])
        self.checks.append(IndexCheck(name, description, int(bad.sum()), first, _FIXES[name], detail))


def _check_cells(df: pd.DataFrame, nan_cells: dict[str, np.ndarray], checks: _Checks) -> dict[str, pd.Series]:
    """``dtypes``, ``nans`` and ``split_values``; returns the numeric columns, coerced (NaN where not numbers)."""
    num = {c: pd.to_numeric(df[c], errors="coerce") for c in _INT_COLUMNS + ("fps",)}
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
    checks.add("dtypes", "integer columns hold whole numbers, fps a number", nonnum)
    any_nan = np.logical_or.reduce([nan_cells[c] for c in INDEX_COLUMNS])
    empty_str = np.logical_or.reduce([df[c].astype(str).str.strip().eq("").to_numpy() for c in _STR_COLUMNS])
    checks.add("nans", "no empty cells in the required columns", any_nan | empty_str)
    split = df["split"].astype(str)
    checks.add("split_values", "split is train, val or test", ~nan_cells["split"] & ~split.isin(SPLITS).to_numpy())
    return num


def _failing(f: dict[str, np.ndarray], cond: np.ndarray, *cols: str) -> np.ndarray:
    """Rows where ``cond`` is false and every column in ``cols`` holds a number."""
    valid = np.logical_and.reduce([~np.isnan(f[c]) for c in cols])
    return valid & ~cond


def _check_clip_ranges(f: dict[str, np.ndarray], checks: _Checks) -> None:
    """``start_before_end``, ``end_within_video``, ``clip_length`` and ``clip_grid``."""
    with np.errstate(invalid="ignore"):
        checks.add(
            "start_before_end",
            "end_frame > start_frame",
            _failing(f, f["end_frame"] > f["start_frame"], "end_frame", "start_frame"),
        )
        checks.add(
            "end_within_video",
            "end_frame <= n_frames",
            _failing(f, f["end_frame"] <= f["n_frames"], "end_frame", "n_frames"),
        )
        checks.add(
            "clip_length",
            "end_frame - start_frame == clip_len",
            _failing(f, f["end_frame"] - f["start_frame"] == f["clip_len"], "end_frame", "start_frame", "clip_len"),
        )
        checks.add(
            "clip_grid",
            "start_frame == clip_idx * stride, clip_idx >= 0",
            _failing(
                f,
                (f["start_frame"] == f["clip_idx"] * f["stride"]) & (f["clip_idx"] >= 0),
                "start_frame",
                "clip_idx",
                "stride",
            ),
        )


def _check_labels(
    df: pd.DataFrame, f: dict[str, np.ndarray], nan_cells: dict[str, np.ndarray], checks: _Checks
) -> None:
    """``label_values`` and ``label_category``."""
    split = df["split"].astype(str)
    with np.errstate(invalid="ignore"):
        y = f["y"]
        checks.add("label_values", "y in {0, 1}", _failing(f, np.isin(y, (0, 1)), "y"))
        category = df["category"].astype(str).to_numpy()
        known = np.isin(category, CATEGORIES)
        normal = category == "Normal"
        if "anomaly_frac" in df.columns:
            frac = pd.to_numeric(df["anomaly_frac"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            frac = np.full(len(df), np.nan)
        temporal_zero = (split.to_numpy() == "test") & (frac < 1)
        consistent = known & np.where(normal, y == 0, (y == 1) | ((y == 0) & temporal_zero))
        unknown = sorted(set(category[~known & ~nan_cells["category"]]))[:5]
        checks.add(
            "label_category",
            "y agrees with the category",
            _failing(f, consistent, "y") & np.isin(y, (0, 1)) & ~nan_cells["category"],
            f"unknown categories: {', '.join(unknown)}" if unknown else "",
        )


def _check_videos(
    df: pd.DataFrame, nan_cells: dict[str, np.ndarray], checks: _Checks, *, check_files: bool
) -> pd.Series:
    """``duplicate_clips``, ``split_leak`` and ``missing_files``; returns each row's video key."""
    checks.add("duplicate_clips", "(path, clip_idx) unique", df.duplicated(["path", "clip_idx"], keep=False).to_numpy())
    if "video" in df.columns:
        video_key = df["video"].astype(str)
    else:
        video_key = df["path"].astype(str).str.replace("\\", "/", regex=False).str.rsplit("/", n=1).str[-1]
    split = df["split"].astype(str)
    n_splits = split.groupby(video_key.to_numpy()).nunique()
    leaked = n_splits.index[n_splits > 1]
    checks.add(
        "split_leak",
        "each video in one split",
        video_key.isin(leaked).to_numpy(),
        f"{len(leaked)} videos, first: {', '.join(map(str, leaked[:3]))}" if len(leaked) else "",
    )
    if check_files:
        paths = df["path"].astype(str)
        unique = pd.unique(paths[~nan_cells["path"]])
        gone = [p for p in unique if not resolve_path(p).is_file()]
        checks.add(
            "missing_files",
            "every video file exists",
            paths.isin(gone).to_numpy() & ~nan_cells["path"],
            f"{len(gone)} of {len(unique)} videos missing, first: {', '.join(display_path(p) for p in gone[:3])}"
            if gone
            else "",
        )
    else:
        checks.checks.append(
            IndexCheck(
                "missing_files",
                "every video file exists",
                0,
                (),
                _FIXES["missing_files"],
                "skipped (check_files=False)",
            )
        )
    return video_key
