"""Small file-system helpers: atomic writes, an exclusive lock file, sha256 of a file.

One home for each: the index CSV, the probe's outputs and the store's JSON files are all
written with :func:`atomic_write`; the store's lock (O_EXCL, safe on NFS, stale locks of dead
processes broken without ever removing a live one) is :func:`file_lock`.

The store's one seam for failed writes is :func:`store_writes`: every method of
:class:`ucf_nb.EmbeddingStore` and :class:`ucf_nb.ShardWriter` that writes into ``out_dir``
runs inside it, so a full disk (quota, I/O error, read-only remount) anywhere (folders,
arrays, JSON files, locks, the assembly of a split, a retry's copy) becomes one
:class:`StoreWriteError` sentence naming ``out_dir`` and the file; the temporary file or
folder being written is removed first, nothing is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .checks import UcfNbError
from .paths import display_path

__all__ = ["atomic_write", "atomic_write_csv", "file_sha256"]


# errors of a write that the user fixes by making room or pointing out_dir elsewhere
DISK_ERRNOS = frozenset(
    getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EIO", "EACCES", "EPERM") if hasattr(errno, n)
)
SPACE_ERRNOS = frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, n))


class StoreWriteError(UcfNbError, OSError):
    """Writing the embeddings into ``out_dir`` failed (disk full, quota, I/O error).

    Everything committed before the failure is kept: the same command resumes.
    """


def store_write_error(exc: OSError, out_dir: Any) -> StoreWriteError:
    """One sentence for a failed write into ``out_dir``: where, which file, why, what to do."""
    name = errno.errorcode.get(exc.errno or 0, "")
    file = f" on {display_path(exc.filename)}" if exc.filename else ""
    err = StoreWriteError(
        exc.errno,
        f"writing into out_dir {display_path(out_dir)} failed{file} "
        f"({exc.strerror or exc}{', ' + name if name else ''}): make room there "
        "(or fix the disk or quota) and run the same command again; what was "
        "committed there before is kept",
    )
    err.filename = exc.filename
    return err


@contextlib.contextmanager
def store_writes(out_dir: Any) -> Iterator[None]:
    """Within the block, an ``OSError`` of :data:`DISK_ERRNOS` becomes :class:`StoreWriteError`
    (see the module's docstring); other errors, and a missing file, pass through unchanged."""
    try:
        yield
    except StoreWriteError:
        raise
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) or exc.errno not in DISK_ERRNOS:
            raise
        raise store_write_error(exc, out_dir) from exc


def writes_into(out_dir_of: Callable[[Any], Any]) -> Callable:
    """Decorate a method that writes into ``out_dir_of(self)`` with :func:`store_writes`."""

    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
            with store_writes(out_dir_of(self)):
                return method(self, *args, **kwargs)

        return inner

    return wrap


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unique_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def atomic_write(path: Path, write: Callable[[IO], object], *, mode: str = "w", newline: str | None = None) -> None:
    """Write ``path`` all at once or not at all: ``write(f)`` fills a temporary file beside it,
    which is synced and then renamed over ``path`` (readers see the old or the new file,
    never half of one); the temporary file is removed when ``write`` fails."""
    tmp = path.with_name(f".{path.name}.tmp-{unique_id()}")
    try:
        with open(tmp, mode, newline=newline) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any, *, allow_nan: bool = True) -> None:
    """``obj`` as indented JSON (one trailing newline), written with :func:`atomic_write`."""

    def write(f: IO) -> None:
        json.dump(obj, f, indent=2, sort_keys=False, allow_nan=allow_nan)
        f.write("\n")

    atomic_write(path, write)


def atomic_write_csv(path: Path, df: Any) -> None:
    """A DataFrame as CSV without its index, written with :func:`atomic_write`."""
    atomic_write(path, lambda f: df.to_csv(f, index=False), newline="")


def read_json(path: Path) -> Any:
    with open(path) as f:
        return json.load(f)


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = 600.0, stale_after: float = 900.0) -> Iterator[None]:
    """An exclusive lock file created with O_EXCL (works on local disks and NFS).

    A lock left by a dead process on this host, or older than ``stale_after`` seconds, is
    broken.
    """
    me = f"{socket.gethostname()} {os.getpid()}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _lock_is_stale(path, stale_after):
                _break_stale_lock(path, stale_after)
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"lock file {path} is held by another process for more than {timeout:.0f} s: "
                    "delete it if no extraction is running"
                ) from None
            time.sleep(0.05)
            continue
        try:
            os.write(fd, me.encode())
        except BaseException:  # a full disk: no lock left behind that nobody holds
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        os.close(fd)
        break
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _break_stale_lock(path: Path, stale_after: float) -> None:
    """Remove a stale lock file without ever removing a live one.

    Two waiters may both judge the same lock stale; a plain unlink by the slower one would
    delete the lock the faster one has just taken. So the lock is first moved aside (one
    rename wins), and what was moved is looked at again: if it turns out to be a live lock
    (taken between the check and the rename), it is put back.
    """
    moved = path.with_name(f"{path.name}.stale-{unique_id()}")
    try:
        os.rename(path, moved)
    except FileNotFoundError:  # someone else broke (or released) it first
        return
    if not _lock_is_stale(moved, stale_after):
        with contextlib.suppress(FileExistsError):
            os.link(moved, path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(moved)


def _lock_is_stale(path: Path, stale_after: float) -> bool:
    try:
        text = path.read_text().split()
        age = time.time() - path.stat().st_mtime
    except (FileNotFoundError, OSError):
        return False
    if age > stale_after:
        return True
    if len(text) == 2 and text[0] == socket.gethostname():
        try:
            os.kill(int(text[1]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, ValueError):
            return False
    return False
