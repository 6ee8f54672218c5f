"""Per-split embedding arrays on disk and their resume state (the manifest: :mod:`ucf_nb.store.manifest`).

(About 800 lines, on purpose: :class:`EmbeddingStore` and :class:`ShardWriter` share one
on-disk layout and one kill-safe commit protocol, described here, and are read together;
retrying failed rows reuses both.)

Layout of ``out_dir`` (every array a ``.npy`` file, readable with
``np.load(path, mmap_mode="r")``; ``N`` clips in the split, ``D`` the embedding width)::

    manifest.json          what was extracted, how, from what (see read_manifest)
    emb_{split}.npy        float16 (N, D), row i = the clip of rows_{split}[i]; NaN when failed;
                           (N, V, D) for a run with V views per clip (views="ten_crop": V = 10)
    y_{split}.npy          int8 (N,)   labels from the index
    rows_{split}.npy       int64 (N,)  index row numbers, ascending (index order)
    status_{split}.npy     uint8 (N,)  1 done, 2 failed (the video could not be read)
    .extract/              work in progress, removed when a split is finished
        fingerprint.json   the settings every output in out_dir was made with
        {split}/layout.json             rows of the split and how they are sharded
        {split}/shard-{k}-of-{n}/       one folder per shard, written by that shard only:
            emb.npy float16 (n_k, D) (V x D per row with views), n_real.npy int16 (n_k,), status.npy uint8 (n_k,)
            (0 pending, 1 done, 2 failed), errors.jsonl, stats.json
        {split}/retry-{k}-of-{n}/       the failed rows of shard k of a finished split, tried
            again (every row of a video with a failed or short clip): the same files for
            those rows only, rows.npy int64 (their index rows) and videos.json (their videos)

The public ``*_{split}.npy`` files appear only once every shard of the split is done: a
split is never half-written where a consumer looks. Each shard writes only its own folder,
so shards on different machines can share ``out_dir`` (NFS included); the last one to finish
assembles the public files, under a lock file, with constant memory.

Resume is safe against ``kill -9`` at any moment: embeddings are written (and synced)
before the status bytes that mark their rows done, a couple of seconds' worth at a time, so a
row marked done always has its embedding on disk, and a rerun embeds exactly the rows still
pending.

A split is *complete* when every row was attempted (done or failed) and the public arrays are
assembled. Failed rows, and short ones (done from fewer than ``T`` real frames: the video ended
before the clip did, its last real frame repeated; listed in the manifest's ``short_clips``),
can be tried again, with every other row of their video: in an unfinished split
:meth:`ShardWriter.requeue_failed` puts them back to pending; in a finished
one :meth:`EmbeddingStore.open_retry` gives them a folder of their own and
:meth:`EmbeddingStore.apply_retry` writes what that run got into the public arrays (the other
rows stay byte for byte as they were; the files are replaced atomically).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..checks import UcfNbError, check_int
from ..files import atomic_write, atomic_write_json, file_lock, file_sha256, read_json, unique_id, writes_into
from ..index.build import read_index
from ..paths import display_path, resolve_path
from ..video.preprocess import VIEWS
from .manifest import (
    FINGERPRINT_KEYS,
    MANIFEST,
    fingerprint,
    jsonable,
    manifest_differences,
    manifest_file,
    manifest_settings,
    put_split,
    utc_now,
)

__all__ = [
    "EmbeddingStore",
    "ShardWriter",
    "ExtractMismatchError",
    "load_embeddings",
    "embedding_stats",
    "shard_bounds",
]

WORK = ".extract"
PENDING, DONE, FAILED = 0, 1, 2
# how a session ran, recorded per shard (ShardWriter.add_time) and in the manifest's shard entries
RUNTIME_KEYS = ("attention", "compile", "batch_size", "num_workers")


class ExtractMismatchError(UcfNbError, ValueError):
    """Outputs already in ``out_dir`` were made with different settings."""


# ---------------------------------------------------------------------------------- helpers


def array_sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _create_npy(path: Path, dtype: Any, shape: tuple[int, ...]) -> None:
    """Write a zero-filled (sparse) .npy file of ``shape`` without holding it in memory."""
    dtype = np.dtype(dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.truncate(f.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)


def _npy_offset(path: Path) -> int:
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(f)
        else:
            np.lib.format.read_array_header_2_0(f)
        return f.tell()


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _error_lines(path: Path) -> list[tuple[str, int, str]]:
    """(line, index row, reason) of each readable line of a shard's ``errors.jsonl``."""
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            rec = json.loads(line)
            out.append((line, int(rec["row"]), str(rec["error"])))
    return out


def row_shape(settings: Mapping[str, Any]) -> tuple[int, ...]:
    """Shape of one clip's row in ``emb_{split}.npy``: (D,), or (V, D) for a run with ``views``
    other than ``"center"`` (its shard files hold the V x D values of a row flat)."""
    D = int(settings["embedding_dim"])
    views = settings.get("views") or "center"
    return (D,) if views == "center" else (VIEWS[views], D)


# ------------------------------------------------------------------------------- sharding


def shard_bounds(videos: Sequence[Any] | np.ndarray, num_shards: int) -> np.ndarray:
    """Cut a split's rows into ``num_shards`` contiguous blocks of whole videos.

    Parameters
    ----------
    videos : array-like, shape (N,)
        The video of each row of the split, in index order (a video's rows are contiguous).
    num_shards : int

    Returns
    -------
    numpy.ndarray of int64, shape (num_shards + 1,)
        Shard ``k`` owns positions ``[bounds[k], bounds[k + 1])``. Blocks are balanced by
        clip count; a shard gets no rows when there are fewer videos than shards.
    """
    num_shards = check_int("num_shards", num_shards, 1, who="shard_bounds: ")
    v = np.asarray(videos)
    n = len(v)
    if n == 0:
        return np.zeros(num_shards + 1, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]]).astype(np.int64)  # first row of each video
    bounds = [0]
    for k in range(1, num_shards):
        target = k * n / num_shards
        j = int(np.searchsorted(starts, target))
        cands = [starts[i] for i in (j - 1, j) if 0 <= i < len(starts)]
        best = min(cands, key=lambda s: (abs(s - target), s)) if cands else n
        bounds.append(max(bounds[-1], int(best)))
    bounds.append(n)
    return np.asarray(bounds, dtype=np.int64)


# ------------------------------------------------------------------------------ the store


def _write_at(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` of ``fd``: the one seam every array write of the
    store goes through (an ``OSError`` such as ENOSPC surfaces here)."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _new_shard_folder(
    folder: Path,
    n: int,
    embedding_dim: int,
    stats: Mapping[str, Any],
    rows: np.ndarray | None = None,
    videos: Sequence[Any] | None = None,
) -> None:
    """A shard folder for ``n`` rows, all pending: built aside, then renamed into place (a
    shard folder exists only once complete). ``rows``: the index rows, for a retry folder;
    ``videos``: the video of each of them (``videos.json``)."""
    tmp = folder.with_name(f".{folder.name}.tmp-{unique_id()}")
    try:
        tmp.mkdir(parents=True)
        _create_npy(tmp / "emb.npy", np.float16, (n, embedding_dim))
        _create_npy(tmp / "n_real.npy", np.int16, (n,))
        _create_npy(tmp / "status.npy", np.uint8, (n,))
        if rows is not None:
            np.save(tmp / "rows.npy", np.asarray(rows, np.int64), allow_pickle=False)
        if videos is not None:
            atomic_write_json(tmp / "videos.json", [str(v) for v in videos])
        atomic_write_json(tmp / "stats.json", {"seconds": 0.0, "n_embedded": 0, **stats})
        os.rename(tmp, folder)
    except BaseException:  # a full disk: no half-built folder left behind
        _rmtree(tmp)
        raise


def _patch_rows(
    dst: Path,
    src: Path,
    dst_pos: np.ndarray,
    src_pos: np.ndarray,
    embedding_dim: int,
    nan_pos: Sequence[int] | np.ndarray = (),
) -> None:
    """Replace ``dst`` (an (N, D) float16 .npy) by a copy whose rows ``dst_pos`` are rows
    ``src_pos`` of ``src`` and whose rows ``nan_pos`` are NaN (a clip that failed now): the
    other rows byte for byte, readers see the old or the new file."""
    row_bytes = embedding_dim * 2
    off_src, off_dst = _npy_offset(src), _npy_offset(dst)
    nan_row = np.full(embedding_dim, np.nan, np.float16).tobytes()

    def write(f: Any) -> None:
        with open(dst, "rb") as old:
            shutil.copyfileobj(old, f, 1 << 22)
        f.flush()
        with open(src, "rb") as new:
            for d, s_ in zip(dst_pos, src_pos):
                new.seek(off_src + int(s_) * row_bytes)
                _write_at(f.fileno(), new.read(row_bytes), off_dst + int(d) * row_bytes)
        for d in nan_pos:
            _write_at(f.fileno(), nan_row, off_dst + int(d) * row_bytes)

    atomic_write(dst, write, mode="wb")


def _retried_entry(
    entry: Mapping[str, Any], rows: np.ndarray, status: np.ndarray, writer: ShardWriter, take: np.ndarray, T: int
) -> dict[str, Any]:
    """The manifest fields of a finished split that change once the rows ``take`` (a mask)
    of a retry are written into it; ``rows`` and ``status`` are the split's, after."""
    got, retried = writer.status[take], writer.rows[take]
    n_real, errors = np.load(writer.folder / "n_real.npy")[take], writer.errors()
    reasons = {int(f["row"]): str(f["error"]) for f in entry.get("failed_clips", [])}
    reasons.update({int(r): errors.get(int(r), "unreadable video") for r, st in zip(retried, got) if st == FAILED})
    short = {int(c["row"]): int(c["n_real"]) for c in entry.get("short_clips", [])}
    for r, st, k in zip(retried.tolist(), got.tolist(), n_real.tolist()):
        if st == DONE and k < T:  # still (or now) short: how many real frames this time
            short[int(r)] = int(k)
        else:  # whole again, or failed
            short.pop(int(r), None)
    s = writer.stats()
    seconds = float(entry.get("seconds") or 0.0) + float(s.get("seconds", 0.0))
    before = [*entry.get("shards", []), *entry.get("retries", [])]
    n_embedded = sum(int(x.get("n_embedded") or 0) for x in before) + int(s.get("n_embedded", 0))
    retry = {
        "shard_index": s.get("shard_index"),
        "num_shards": s.get("num_shards"),
        "n_clips": int(len(retried)),
        "n_embedded": int((got == DONE).sum()),
        "n_failed": int((got == FAILED).sum()),
        "n_short": int(((got == DONE) & (n_real < T)).sum()),
        "seconds": round(float(s.get("seconds", 0.0)), 3),
        "host": s.get("host"),
        "device": s.get("device"),
        "completed_at": utc_now(),
    }
    return {
        "n_done": int((status == DONE).sum()),
        "n_failed": int((status == FAILED).sum()),
        "n_short": len(short),
        "seconds": round(seconds, 3),
        "clips_per_s": round(n_embedded / seconds, 3) if seconds > 0 else None,
        "short_clips": [{"row": r, "n_real": short[r]} for r in sorted(short)],
        "failed_clips": [
            {"row": int(r), "error": reasons.get(int(r), "unreadable video")} for r in rows[status == FAILED]
        ],
        "retries": [*entry.get("retries", []), retry],
    }


def _whole_videos(flagged: np.ndarray, videos: Sequence[Any] | np.ndarray | None) -> np.ndarray:
    """``flagged`` (a mask over rows) grown to every row of each video with a flagged row: a
    video that ended early or failed is not the file its index was built from, so none of
    its clips is trusted (a file replaced by another, an edit list that hides its first
    frames). Without ``videos`` each row is its own video."""
    if videos is None or not flagged.any():
        return flagged
    v = np.asarray(videos, dtype=object)
    return np.isin(v, np.unique(v[flagged]))


@dataclass
class ShardWriter:
    """Writes one shard's embeddings of one split; made by :meth:`EmbeddingStore.open_shard`.

    ``rows`` are the index row numbers this shard owns (ascending). Only this object writes
    into its folder.
    """

    folder: Path
    rows: np.ndarray
    embedding_dim: int
    #: seconds between two commits of written rows (see :meth:`commit`)
    COMMIT_EVERY: ClassVar[float] = 2.0

    @property
    def out_dir(self) -> Path:
        """The ``out_dir`` this shard's folder is in (``out_dir/.extract/{split}/{shard}``)."""
        return self.folder.parent.parent.parent

    def __post_init__(self) -> None:
        self._off = {name: _npy_offset(self.folder / f"{name}.npy") for name in ("emb", "n_real", "status")}
        self._unmarked: list[tuple[np.ndarray, np.ndarray]] = []  # (positions, status codes) not yet on disk
        self._last_commit = time.monotonic()

    @property
    def status(self) -> np.ndarray:
        """Status of every row of the shard, (n_k,) uint8, read fresh from disk."""
        return np.array(np.load(self.folder / "status.npy", mmap_mode="r")) if len(self.rows) else np.zeros(0, np.uint8)

    def pending_rows(self) -> np.ndarray:
        """Index row numbers not yet embedded (status 0), ascending."""
        return self.rows[self.status == PENDING]

    @writes_into(lambda w: w.out_dir)
    def requeue_failed(self, T: int | None = None, videos: Sequence[Any] | np.ndarray | None = None) -> int:
        """Put the shard's failed rows (status 2) back to pending, durably, so that the next
        run embeds them again; their reasons leave ``errors.jsonl`` (a row that fails again
        gets its new one).

        Parameters
        ----------
        T : int, optional
            Frames per clip: rows done with fewer real frames (short: the video ended before
            the clip did) are put back too.
        videos : sequence, optional
            The video of each of the shard's rows: every row of a video with a failed (or
            short) row is put back, not only those rows.

        Returns
        -------
        int
            How many rows were put back to pending.
        """
        status = self.status
        flagged = status == FAILED
        if T is not None and len(self.rows):
            n_real = np.load(self.folder / "n_real.npy")
            flagged |= (status == DONE) & (n_real < int(T))
        flagged = _whole_videos(flagged, videos) & (status != PENDING)
        pos = np.flatnonzero(flagged)
        if not len(pos):
            return 0
        with open(self.folder / "status.npy", "r+b") as f_st:
            for p in pos:
                _write_at(f_st.fileno(), bytes([PENDING]), self._off["status"] + int(p))
            os.fdatasync(f_st.fileno())
        path = self.folder / "errors.jsonl"
        if path.exists():
            requeued = set(self.rows[pos].tolist())
            keep = [ln for ln, row, _ in _error_lines(path) if row not in requeued]
            atomic_write(path, lambda f: f.write("".join(ln + "\n" for ln in keep)))
        return int(len(pos))

    def errors(self) -> dict[int, str]:
        """Why each failed row of the shard failed: {index row: reason}, the latest line winning."""
        path = self.folder / "errors.jsonl"
        return {row: reason for _, row, reason in _error_lines(path)} if path.exists() else {}

    def stats(self) -> dict[str, Any]:
        path = self.folder / "stats.json"
        return read_json(path) if path.exists() else {"seconds": 0.0, "n_embedded": 0}

    @writes_into(lambda w: w.out_dir)
    def add_time(
        self, seconds: float, n_clips: int, device: str | None = None, runtime: Mapping[str, Any] | None = None
    ) -> None:
        """Add a session's compute time and clip count to the shard's running totals.

        ``runtime``: how this session ran (e.g. attention, compile, batch_size, num_workers);
        recorded as the shard's, the latest session's values winning.
        """
        s = self.stats()
        s["seconds"] = float(s.get("seconds", 0.0)) + float(seconds)
        s["n_embedded"] = int(s.get("n_embedded", 0)) + int(n_clips)
        s["host"] = socket.gethostname()
        if device:
            s["device"] = device
        if runtime:
            s.update({k: v for k, v in runtime.items() if k in RUNTIME_KEYS})
        atomic_write_json(self.folder / "stats.json", s)

    @writes_into(lambda w: w.out_dir)
    def write(
        self, rows: np.ndarray, emb: np.ndarray | None, n_real: np.ndarray, errors: Sequence[str | None] | None = None
    ) -> None:
        """Write a batch's embeddings; its rows count as done once :meth:`commit` has run.

        Parameters
        ----------
        rows : int array (B,)
            Index row numbers, all owned by this shard, any order.
        emb : float array (B_ok, D) or None
            Embeddings of the rows with ``n_real > 0``, in the order they appear in ``rows``.
        n_real : int array (B,)
            Real frames behind each clip; 0 marks a failed clip (no embedding, status 2).
        errors : sequence of str or None, length B
            Why a failed clip failed.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        n_real = np.asarray(n_real, dtype=np.int64).reshape(-1)
        if len(rows) != len(n_real):
            raise ValueError(f"rows ({len(rows)}) and n_real ({len(n_real)}) differ in length")
        pos = np.searchsorted(self.rows, rows).astype(np.int64)
        foreign = (
            (pos >= len(self.rows)) | (self.rows[np.minimum(pos, max(len(self.rows) - 1, 0))] != rows)
            if len(self.rows)
            else np.ones(len(rows), bool)
        )
        if foreign.any():
            raise ValueError(
                f"index row {int(rows[foreign][0])} does not belong to this shard ({self.folder.name}): "
                "write only rows of this shard's pending_rows()"
            )
        ok = n_real > 0
        n_ok = int(ok.sum())
        if n_ok:
            emb = np.asarray(emb, dtype=np.float16)
            if emb.shape != (n_ok, self.embedding_dim):
                raise ValueError(
                    f"emb has shape {emb.shape}, expected ({n_ok}, {self.embedding_dim}) "
                    "(one row per clip with n_real > 0)"
                )
        row_bytes = self.embedding_dim * 2
        with open(self.folder / "emb.npy", "r+b") as f_emb, open(self.folder / "n_real.npy", "r+b") as f_nr:
            for p, e in zip(pos[ok], emb if n_ok and emb is not None else []):
                _write_at(f_emb.fileno(), np.ascontiguousarray(e).tobytes(), self._off["emb"] + int(p) * row_bytes)
            for p, k in zip(pos, n_real):
                _write_at(f_nr.fileno(), np.int16(min(int(k), 32767)).tobytes(), self._off["n_real"] + int(p) * 2)
        if not ok.all():
            with open(self.folder / "errors.jsonl", "a") as f:
                for r, bad, msg in zip(rows, ~ok, errors if errors is not None else [None] * len(rows)):
                    if bad:
                        f.write(json.dumps({"row": int(r), "error": str(msg or "unreadable video")}) + "\n")
        self._unmarked.append((pos, np.where(ok, DONE, FAILED).astype(np.uint8)))
        if time.monotonic() - self._last_commit >= self.COMMIT_EVERY:
            self.commit()

    @writes_into(lambda w: w.out_dir)
    def commit(self) -> None:
        """Mark the rows written since the last commit as done (or failed), durably.

        The embeddings go to disk first (fdatasync), the status bytes after them, so a row
        marked done always has its embedding, after ``kill -9`` or a power cut alike. Rows
        written but not yet committed when a run dies are simply embedded again by the next
        run. :meth:`write` commits every ``COMMIT_EVERY`` seconds (not every batch: a sync per
        batch costs a GPU run real time, on network storage most of all); call this once more
        at the end of a run.
        """
        if not self._unmarked:
            return
        for name in ("emb.npy", "n_real.npy", "errors.jsonl"):
            path = self.folder / name
            if path.exists():
                with open(path, "r+b") as f:
                    os.fdatasync(f.fileno())
        with open(self.folder / "status.npy", "r+b") as f_st:
            for pos, codes in self._unmarked:
                for p, code in zip(pos, codes):
                    _write_at(f_st.fileno(), bytes([int(code)]), self._off["status"] + int(p))
            os.fdatasync(f_st.fileno())
        self._unmarked.clear()
        self._last_commit = time.monotonic()


class EmbeddingStore:
    """The embeddings in one ``out_dir``: read them, or write them shard by shard.

    Parameters
    ----------
    out_dir : str or path-like
        Folder of the outputs (relative paths resolve against the project root).
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:

        self.out_dir = resolve_path(out_dir)

    # ---- paths
    @property
    def manifest_path(self) -> Path:
        return self.out_dir / MANIFEST

    @property
    def work_dir(self) -> Path:
        return self.out_dir / WORK

    def files(self, split: str) -> dict[str, str]:
        """File names (relative to ``out_dir``) of a split's public arrays."""
        return {
            "emb": f"emb_{split}.npy",
            "y": f"y_{split}.npy",
            "rows": f"rows_{split}.npy",
            "status": f"status_{split}.npy",
        }

    def _shard_dir(self, split: str, k: int, n: int) -> Path:
        return self.work_dir / split / f"shard-{k}-of-{n}"

    # ---- reading
    def manifest(self) -> dict[str, Any]:
        """The manifest, or an empty dict when there is none yet."""
        return read_json(self.manifest_path) if self.manifest_path.exists() else {}

    def is_complete(
        self, split: str, settings: Mapping[str, Any] | None = None, rows: np.ndarray | None = None
    ) -> bool:
        """True when ``split`` is finished (and made with ``settings`` / ``rows`` when given).

        Finished: every row was attempted (embedded, or failed because its video could not be
        read) and the public arrays are assembled. Failed rows do not make a split unfinished
        (a broken video would otherwise keep it open for ever); :func:`ucf_nb.extract_split`
        tries them again when run again (``retry_failed=True``).
        """
        m = self.manifest()
        entry = m.get("splits", {}).get(split)
        if not entry or not entry.get("complete"):
            return False
        if not all((self.out_dir / f).exists() for f in entry["files"].values()):
            return False
        if settings is not None and manifest_differences(manifest_settings(m), settings):
            return False
        return rows is None or entry.get("rows_sha256") == array_sha256(np.asarray(rows, np.int64))

    def load(
        self, split: str, index_path: str | os.PathLike | None = None
    ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """See :func:`load_embeddings`."""
        m = self.manifest()
        if not m:
            raise FileNotFoundError(
                f"{display_path(self.manifest_path)} not found: run ucf_nb.extract_split "
                "(notebooks/02_extract.ipynb) for this out_dir first"
            )
        entry = m.get("splits", {}).get(split)
        if not entry or not entry.get("complete"):
            have = sorted(s for s, e in m.get("splits", {}).items() if e.get("complete"))
            raise ValueError(
                f"split {split!r} is not finished in {display_path(self.manifest_path)} "
                f"(finished: {have}): "
                f"run ucf_nb.extract_split(split={split!r}, ...) until it completes"
            )
        X = np.load(self.out_dir / entry["files"]["emb"], mmap_mode="r")
        y = np.load(self.out_dir / entry["files"]["y"])
        rows = np.load(self.out_dir / entry["files"]["rows"])
        if tuple(X.shape) != tuple(entry["shape"]) or len(y) != len(X) or len(rows) != len(X):
            raise ValueError(
                f"arrays of split {split!r} in {display_path(self.out_dir)} do not match the manifest's "
                "shape "
                f"{entry['shape']}: rerun extract_split with resume=False"
            )
        df = _index_rows(m, index_path)
        missing = np.setdiff1d(rows, df.index.to_numpy())
        if len(missing):
            raise ValueError(f"index has no rows {missing[:5].tolist()}... that split {split!r} refers to")
        return X, y, df.loc[rows]

    # ---- writing
    @writes_into(lambda st: st.out_dir)
    def check_settings(self, settings: Mapping[str, Any], resume: bool = True) -> None:
        """Make sure everything in ``out_dir`` was made with ``settings``.

        With ``resume=True`` a difference raises :class:`ExtractMismatchError` naming it;
        with ``resume=False`` the old outputs (every split) are deleted instead.
        Then ``settings`` is recorded for later runs.
        """
        settings = jsonable(dict(settings))
        missing = [k for k in FINGERPRINT_KEYS if k not in settings]
        if missing:
            raise ValueError(f"settings lack {missing}")
        recorded = []
        m = self.manifest()
        if m.get("splits"):
            recorded.append((self.manifest_path, manifest_settings(m)))
        fp = self.work_dir / "fingerprint.json"
        if fp.exists():
            recorded.append((fp, read_json(fp)))
        for where, old in recorded:
            diffs = manifest_differences(old, settings)
            if not diffs:
                continue
            if resume:
                raise ExtractMismatchError(
                    f"{display_path(self.out_dir)} already holds embeddings made with different settings "
                    f"({'; '.join(diffs)}; "
                    f"recorded in {where.name}): pass resume=False to delete them and start over, "
                    "or choose another out_dir"
                )
            self.clear()
            break
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if not fp.exists():
            tmp = fp.with_name(f".fingerprint.json.tmp-{unique_id()}")
            try:
                tmp.write_text(json.dumps(fingerprint(settings), indent=2))
                os.link(tmp, fp)  # atomic create-if-absent, also on NFS
            except FileExistsError:
                pass
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            diffs = manifest_differences(read_json(fp), settings)
            if diffs:
                raise ExtractMismatchError(
                    f"another process started {display_path(self.out_dir)} with different "
                    f"settings ({'; '.join(diffs)}): use another out_dir"
                )

    @writes_into(lambda st: st.out_dir)
    def clear(self, split: str | None = None) -> None:
        """Delete the outputs of ``split`` (every split when None) from ``out_dir``."""
        splits = [split] if split is not None else None
        if splits is None:
            m = self.manifest()
            splits = sorted(
                set(m.get("splits", {}))
                | {p.name for p in self.work_dir.glob("*") if p.is_dir()}
                | {p.name[len("emb_") : -len(".npy")] for p in self.out_dir.glob("emb_*.npy")}
            )
        for s in splits:
            for f in self.files(s).values():
                with contextlib.suppress(FileNotFoundError):
                    (self.out_dir / f).unlink()
            _rmtree(self.work_dir / s)
        if split is None:
            _rmtree(self.work_dir)
            with contextlib.suppress(FileNotFoundError):
                self.manifest_path.unlink()
        else:
            self._update_manifest(lambda m: m.get("splits", {}).pop(split, None))

    @writes_into(lambda st: st.out_dir)
    def open_shard(
        self,
        split: str,
        rows: np.ndarray,
        videos: Sequence[Any] | np.ndarray,
        embedding_dim: int,
        shard_index: int = 0,
        num_shards: int = 1,
        resume: bool = True,
        limit: int | None = None,
    ) -> ShardWriter:
        """Create, or reopen to resume, shard ``shard_index`` of ``split``.

        Parameters
        ----------
        rows : int array (N,)
            Index row numbers of the whole split (ascending).
        videos : array (N,)
            The video of each row (shards are blocks of whole videos).
        resume : bool
            False discards this shard's earlier work and the split's finished arrays.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) > 1 and not (np.diff(rows) > 0).all():
            raise ValueError("rows must be strictly ascending index row numbers")
        if not 0 <= int(shard_index) < int(num_shards):
            raise ValueError(
                f"shard_index must be in [0, num_shards), got shard_index={shard_index}, num_shards={num_shards}"
            )
        split_dir = self.work_dir / split
        split_dir.mkdir(parents=True, exist_ok=True)
        layout = {
            "n_clips": int(len(rows)),
            "rows_sha256": array_sha256(rows),
            "limit": limit,
            "num_shards": int(num_shards),
            "bounds": shard_bounds(videos, num_shards).tolist(),
        }
        lpath = split_dir / "layout.json"
        done = self.manifest().get("splits", {}).get(split)
        if (
            done
            and done.get("complete")
            and (done.get("rows_sha256"), done.get("limit")) != (layout["rows_sha256"], limit)
        ):
            if resume:
                raise ExtractMismatchError(
                    f"split {split!r} in {display_path(self.out_dir)} is finished with other rows "
                    f"(n_clips: {done.get('n_clips')} "
                    f"before, {layout['n_clips']} now; limit: {done.get('limit')!r} before, {limit!r} now): "
                    "pass resume=False to replace it, or choose another out_dir"
                )
            self.clear(split)
            split_dir.mkdir(parents=True, exist_ok=True)
        if lpath.exists():
            old = read_json(lpath)
            diffs = [
                f"{k}: {old.get(k)!r} before, {layout[k]!r} now"
                for k in ("n_clips", "rows_sha256", "limit", "num_shards")
                if old.get(k) != layout[k]
            ]
            if diffs and resume:
                raise ExtractMismatchError(
                    f"split {split!r} in {display_path(self.out_dir)} was started with other rows or sharding "
                    f"({'; '.join(diffs)}): rerun with the same limit/num_shards, or pass resume=False to start over"
                )
            if diffs:
                self.clear(split)
                split_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            for f in self.files(split).values():
                with contextlib.suppress(FileNotFoundError):
                    (self.out_dir / f).unlink()
            self._update_manifest(lambda m: m.get("splits", {}).pop(split, None))
            _rmtree(self._shard_dir(split, shard_index, num_shards))
        if not lpath.exists():
            atomic_write_json(lpath, layout)
        a, b = layout["bounds"][shard_index], layout["bounds"][shard_index + 1]
        folder = self._shard_dir(split, shard_index, num_shards)
        if not folder.exists():
            _new_shard_folder(folder, b - a, int(embedding_dim), {"rows": [int(a), int(b)]})
        return ShardWriter(folder=folder, rows=rows[a:b], embedding_dim=int(embedding_dim))

    @writes_into(lambda st: st.out_dir)
    def open_retry(
        self,
        split: str,
        rows: np.ndarray,
        videos: Sequence[Any] | np.ndarray,
        embedding_dim: int,
        shard_index: int = 0,
        num_shards: int = 1,
    ) -> ShardWriter | None:
        """Reopen the failed and short clips of shard ``shard_index`` of a finished split, to
        embed them again: every row of each video with a failed clip (status 2) or a short one
        (listed in the manifest's ``short_clips``: the video ended before the clip did), since
        such a file is not the one the index was made from and none of its clips is trusted.

        The rows get a folder of their own, ``.extract/{split}/retry-{k}-of-{n}/`` (the public
        arrays stay as they are until :meth:`apply_retry`); a folder left by an interrupted
        retry is taken up as it is. ``rows`` and ``videos`` are those of the whole split, as
        for :meth:`open_shard`. Returns None when the shard has no failed row to retry.
        """
        folder = self.work_dir / split / f"retry-{int(shard_index)}-of-{int(num_shards)}"
        if not folder.exists():
            bounds = shard_bounds(videos, num_shards)
            a, b = int(bounds[shard_index]), int(bounds[shard_index + 1])
            status = np.load(self.out_dir / self.files(split)["status"], mmap_mode="r")
            mine = np.asarray(rows, np.int64)[a:b]
            entry = (self.manifest().get("splits") or {}).get(split) or {}
            short = [int(c["row"]) for c in entry.get("short_clips", [])]
            flagged = (np.asarray(status[a:b]) == FAILED) | np.isin(mine, short)
            take = _whole_videos(flagged, np.asarray(videos)[a:b])
            if not take.any():
                return None
            _new_shard_folder(
                folder,
                int(take.sum()),
                int(embedding_dim),
                {"shard_index": int(shard_index), "num_shards": int(num_shards)},
                rows=mine[take],
                videos=np.asarray(videos)[a:b][take],
            )
        return ShardWriter(folder=folder, rows=np.load(folder / "rows.npy"), embedding_dim=int(embedding_dim))

    @writes_into(lambda st: st.out_dir)
    def apply_retry(self, split: str, writer: ShardWriter, T: int) -> bool:
        """Write what a retry (:meth:`open_retry`) got into the finished split's public arrays.

        The retry's rows of every video the manifest still lists with a failed or short clip
        are written: rows done now get their embedding (when its bytes changed) and status 1,
        rows that fail now get a NaN row, status 2 and the new reason. Rows of other videos
        are never touched (they stay byte for byte as they were); ``emb`` and ``status`` are
        replaced atomically, and only when something in them changed. The manifest's counts,
        ``failed_clips``, ``short_clips`` and time follow, and the retry is listed under
        ``retries`` (unless it changed nothing: the same rows failed, or came out short, the
        same way, to the same bytes). Safe to
        repeat after ``kill -9`` (the folder goes last). Returns False (changing nothing)
        while some row of the retry is still pending.
        """
        got = writer.status
        if (got == PENDING).any():
            return False
        with file_lock(self.work_dir / f"{split}.lock"):
            entry = (self.manifest().get("splits") or {}).get(split)
            if not entry or not entry.get("complete"):  # cleared meanwhile (resume=False): nothing to patch
                return False
            self._remove_leftovers(split)
            files = {k: self.out_dir / f for k, f in entry["files"].items()}
            rows = np.load(files["rows"])
            before = np.load(files["status"])
            pos = np.searchsorted(rows, writer.rows)
            # the manifest (written last) says which rows are still failed or short: the rows of
            # their videos are taken; a video done meanwhile by another retry stays as it is, and
            # one this retry wrote before being killed is written again
            flagged = np.isin(
                writer.rows,
                [int(f["row"]) for f in entry.get("failed_clips", [])]
                + [int(c["row"]) for c in entry.get("short_clips", [])],
            )
            vpath = writer.folder / "videos.json"
            take = _whole_videos(flagged, read_json(vpath) if vpath.exists() else None)
            status = before.copy()
            status[pos[take]] = got[take]
            old_emb = np.load(files["emb"], mmap_mode="r")
            new_emb = np.load(writer.folder / "emb.npy", mmap_mode="r")
            # rows done now whose bytes change (a row embedded again to the same bytes is left alone)
            done = np.asarray(
                [
                    i
                    for i in np.flatnonzero(take & (got == DONE))
                    if before[pos[i]] != DONE or old_emb[pos[i]].tobytes() != new_emb[i].tobytes()
                ],
                dtype=np.int64,
            )
            lost = pos[np.flatnonzero(take & (got == FAILED) & (before[pos] == DONE))]  # done before, failed now
            del old_emb, new_emb
            if len(done) or len(lost):
                _patch_rows(
                    files["emb"], writer.folder / "emb.npy", pos[done], done, writer.embedding_dim, nan_pos=lost
                )
            if not np.array_equal(status, before):
                atomic_write(files["status"], lambda f: np.save(f, status, allow_pickle=False), mode="wb")
            change = _retried_entry(entry, rows, status, writer, take, int(T))
            # a retry that changed nothing (the same rows failed, or came out short, the same way) leaves
            # the manifest as it was: rerunning with a video still broken adds no entry, every time
            if (
                len(done)
                or len(lost)
                or change["failed_clips"] != entry.get("failed_clips", [])
                or change["short_clips"] != entry.get("short_clips", [])
            ):
                self._update_manifest(lambda m: m["splits"][split].update(change))
        _rmtree(writer.folder)
        with contextlib.suppress(OSError):  # the split's work folder, unless another retry uses it
            (self.work_dir / split).rmdir()
        return True

    def _remove_leftovers(self, split: str) -> None:
        """Temporary files of an assembly (or retry) of ``split`` that was killed."""
        for name in self.files(split).values():
            for leftover in self.out_dir.glob(f".{name}.tmp-*"):
                leftover.unlink()

    @writes_into(lambda st: st.out_dir)
    def finalize(
        self,
        split: str,
        settings: Mapping[str, Any],
        rows: np.ndarray,
        y: np.ndarray,
        T: int,
        extra: Mapping[str, Any] | None = None,
    ) -> bool:
        """Assemble the public arrays of ``split`` once every shard is done.

        Returns True when the split is complete (now or before), False while some shard
        still has pending rows. Streams the shards' files in order: memory stays flat.
        """
        split_dir = self.work_dir / split
        lpath = split_dir / "layout.json"
        if not lpath.exists():
            return self.is_complete(split, settings, rows)
        layout = read_json(lpath)
        n, bounds = layout["num_shards"], layout["bounds"]
        folders = [self._shard_dir(split, k, n) for k in range(n)]
        for folder, a, b in zip(folders, bounds[:-1], bounds[1:]):
            if not folder.exists():
                return False
            if b > a and (np.load(folder / "status.npy", mmap_mode="r") == PENDING).any():
                return False
        with file_lock(split_dir.parent / f"{split}.lock"):
            if self.is_complete(split, settings, rows):
                return True
            if not lpath.exists():
                return False
            self._remove_leftovers(split)
            entry = self._assemble(split, folders, bounds, layout, settings, rows, y, int(T), extra or {})
            self._update_manifest(lambda m: put_split(m, split, entry, settings), create=True)
            _rmtree(split_dir)
        return True

    def _assemble(
        self,
        split: str,
        folders: list[Path],
        bounds: list[int],
        layout: dict,
        settings: Mapping,
        rows: np.ndarray,
        y: np.ndarray,
        T: int,
        extra: Mapping[str, Any],
    ) -> dict[str, Any]:
        shape = row_shape(settings)
        D = int(np.prod(shape))  # bytes of a row / 2: V x D for several views
        N = int(layout["n_clips"])
        files = self.files(split)
        tag = unique_id()
        tmp = {k: self.out_dir / f".{v}.tmp-{tag}" for k, v in files.items()}
        try:
            return self._assemble_into(tmp, files, folders, bounds, layout, rows, y, T, extra, D=D, N=N, shape=shape)
        except BaseException:  # a full disk: no temporary array left behind
            for path in tmp.values():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise

    def _assemble_into(
        self,
        tmp: dict[str, Path],
        files: dict[str, str],
        folders: list[Path],
        bounds: list[int],
        layout: dict,
        rows: np.ndarray,
        y: np.ndarray,
        T: int,
        extra: Mapping[str, Any],
        *,
        D: int,
        N: int,
        shape: tuple[int, ...],
    ) -> dict[str, Any]:
        status = np.zeros(N, np.uint8)
        n_real = np.zeros(N, np.int16)
        errors: dict[int, str] = {}
        seconds, n_embedded, shards = 0.0, 0, []
        nan_row = np.full(D, np.nan, np.float16).tobytes()
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
            "fortran_order": False,
            "shape": (N, *shape),
        }
        with open(tmp["emb"], "wb") as out:
            np.lib.format.write_array_header_1_0(out, header)
            for k, (folder, a, b) in enumerate(zip(folders, bounds[:-1], bounds[1:])):
                st = np.load(folder / "status.npy") if b > a else np.zeros(0, np.uint8)
                status[a:b] = st
                n_real[a:b] = np.load(folder / "n_real.npy") if b > a else np.zeros(0, np.int16)
                off = _npy_offset(folder / "emb.npy")
                with open(folder / "emb.npy", "rb") as src:
                    src.seek(off)
                    chunk = 4096
                    for c in range(0, b - a, chunk):
                        m = min(chunk, b - a - c)
                        block = bytearray(src.read(m * D * 2))
                        bad = np.flatnonzero(st[c : c + m] != DONE)
                        for i in bad:
                            block[i * D * 2 : (i + 1) * D * 2] = nan_row
                        out.write(block)
                if (folder / "errors.jsonl").exists():
                    errors.update({row: reason for _, row, reason in _error_lines(folder / "errors.jsonl")})
                s = read_json(folder / "stats.json") if (folder / "stats.json").exists() else {}
                seconds += float(s.get("seconds", 0.0))
                n_embedded += int(s.get("n_embedded", 0))
                shards.append(
                    {
                        "shard_index": k,
                        "n_clips": int(b - a),
                        "seconds": round(float(s.get("seconds", 0.0)), 3),
                        "n_embedded": int(s.get("n_embedded", 0)),
                        "host": s.get("host"),
                        "device": s.get("device"),
                        **{key: s[key] for key in RUNTIME_KEYS if key in s},
                    }
                )
            out.flush()
            os.fsync(out.fileno())
        for name, arr in (
            ("y", np.asarray(y, dtype=np.int8)),
            ("rows", np.asarray(rows, dtype=np.int64)),
            ("status", status),
        ):
            with open(tmp[name], "wb") as f:
                np.save(f, arr, allow_pickle=False)
        for name in ("y", "rows", "status", "emb"):
            os.replace(tmp[name], self.out_dir / files[name])
        failed = np.flatnonzero(status == FAILED)
        short = np.flatnonzero((status == DONE) & (n_real < T))
        attentions = sorted({str(sh["attention"]) for sh in shards if sh.get("attention")})
        return {
            "complete": True,
            "completed_at": utc_now(),
            "files": files,
            "shape": [N, *shape],
            "dtype": "float16",
            "n_clips": N,
            "n_done": int((status == DONE).sum()),
            "n_failed": int(len(failed)),
            "n_short": int(len(short)),
            "seconds": round(seconds, 3),
            "clips_per_s": round(n_embedded / seconds, 3) if seconds > 0 else None,
            "rows_sha256": layout["rows_sha256"],
            "limit": layout.get("limit"),
            "num_shards": len(folders),
            "attention": ", ".join(attentions) if attentions else None,
            "shards": shards,
            "short_clips": [{"row": int(rows[i]), "n_real": int(n_real[i])} for i in short],
            "failed_clips": [
                {"row": int(rows[i]), "error": errors.get(int(rows[i]), "unreadable video")} for i in failed
            ],
            **dict(extra),
        }

    @writes_into(lambda st: st.out_dir)
    def _update_manifest(self, change: Any, create: bool = False) -> None:
        """Read-modify-write the manifest under a lock file, then replace it atomically.

        Does nothing when there is no manifest yet, unless ``create``.
        """
        if not create and not self.manifest_path.exists():
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.out_dir / f".{MANIFEST}.lock"):
            m = self.manifest()
            change(m)
            m["updated_at"] = utc_now()
            atomic_write_json(self.manifest_path, m)


def _index_rows(m: Mapping[str, Any], index_path: str | os.PathLike | None) -> pd.DataFrame:

    recorded = m.get("index", {})
    path = resolve_path(index_path if index_path is not None else recorded.get("path") or "")
    if not path.exists():
        raise FileNotFoundError(
            f"index {display_path(path)} not found: pass index_path= to load_embeddings "
            "(the index the embeddings were extracted from)"
        )
    sha = file_sha256(path)
    if recorded.get("sha256") and sha != recorded["sha256"]:
        raise ValueError(
            f"index {display_path(path)} is not the one the embeddings were extracted from "
            f"(sha256 {sha[:12]} vs {recorded['sha256'][:12]} in the manifest): pass the right index_path"
        )

    return read_index(path)


# ------------------------------------------------------------------------- public helpers


def load_embeddings(
    out_dir_or_manifest: str | os.PathLike, split: str, *, index_path: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Open a finished split's embeddings.

    Parameters
    ----------
    out_dir_or_manifest : str or path-like
        The ``out_dir`` of :func:`ucf_nb.extract_split`, or its ``manifest.json``.
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    index_path : str or path-like, optional
        The index the embeddings came from; default the one recorded in the manifest
        (checked against its sha256).

    Returns
    -------
    X : numpy.memmap, float16, shape (N, D), or (N, V, D) for a run with V views per clip
        Opened read-only from disk; NaN rows are clips whose video could not be read. A
        ten-crop run (``extract_split(views="ten_crop")``) has V = 10, in torchvision's
        TenCrop order (four corners, centre, then the same five of the flipped frame); the manifest's
        ``views`` says which.
    y : numpy.ndarray, int8, shape (N,)
    rows : pandas.DataFrame
        The index rows of the split, row ``i`` describing ``X[i]``; its index holds the
        index row numbers.
    """
    path = manifest_file(out_dir_or_manifest)
    return EmbeddingStore(path.parent).load(split, index_path=index_path)


def embedding_stats(X: np.ndarray, y: np.ndarray | None = None, chunk: int = 8192) -> pd.DataFrame:
    """Sanity statistics of an (N, D) (or (N, V, D)) embedding array, computed chunk by chunk.

    Returns a one-row DataFrame: ``n_clips`` (rows), ``n_embedded`` (rows that are not
    failed), ``n_failed`` (all-NaN rows: clips whose video could not be read), ``n_finite``
    (rows whose every value is finite), ``all_finite`` (every row finite: False as soon as
    one clip failed), ``mean``, ``std``, ``min``, ``max`` (over the finite values) and, when
    ``y`` is given, one ``n_y=<label>`` column per label.
    """
    X = np.asarray(X) if not isinstance(X, np.memmap) else X
    if X.ndim == 3:  # (N, V, D): a clip's views side by side, one row per clip
        X = X.reshape(X.shape[0], -1)
    if X.ndim != 2:
        raise ValueError(f"X must be (N, D) or (N, V, D), got shape {X.shape}")
    n, s, ss, cnt = X.shape[0], 0.0, 0.0, 0
    lo, hi, failed, n_finite = np.inf, -np.inf, 0, 0
    for a in range(0, n, chunk):
        block = np.asarray(X[a : a + chunk], dtype=np.float32)
        nan_rows = np.isnan(block).all(axis=1) if block.shape[1] else np.zeros(len(block), bool)
        failed += int(nan_rows.sum())
        n_finite += int(np.isfinite(block).all(axis=1).sum())
        good = block[~nan_rows]
        fin = np.isfinite(good)
        v = good[fin].astype(np.float64)
        if v.size:
            s += float(v.sum())
            ss += float((v * v).sum())
            cnt += v.size
            lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
    mean = s / cnt if cnt else float("nan")
    std = float(np.sqrt(max(ss / cnt - mean * mean, 0.0))) if cnt else float("nan")
    out: dict[str, Any] = {
        "n_clips": n,
        "n_embedded": n - failed,
        "n_failed": failed,
        "n_finite": n_finite,
        "all_finite": bool(n_finite == n),
        "mean": mean,
        "std": std,
        "min": lo if cnt else float("nan"),
        "max": hi if cnt else float("nan"),
    }
    if y is not None:
        labels, counts = np.unique(np.asarray(y), return_counts=True)
        out.update({f"n_y={int(v)}": int(c) for v, c in zip(labels, counts)})
    return pd.DataFrame([out])
