"""One run per shard: a lock file with an owner and a heartbeat.

:func:`hold_shard_lock` is taken by :func:`ucf_nb.extract_split` before it loads the model;
a second run on the same split and shard of the same ``out_dir`` (a second notebook, a job
resubmitted by a scheduler) stops at once with :class:`ShardBusyError`. Different shards of
one split lock different files and run at once.

The lock is a file created with ``O_EXCL`` (atomic on local disks and NFS) under
``out_dir/.extract-locks/``, holding JSON: host, pid, start time, SLURM job id, a random
token. While the run lives, a daemon thread touches the file every ``heartbeat_every``
seconds. A lock is stale, and is broken by the next run, when

- its process is gone and it was taken on this host (pid checked at once), or
- its heartbeat (the file's mtime) is older than ``stale_after`` seconds: the process on
  another host died or lost the file system (a resubmitted job often lands on another node).

Breaking moves the file aside first (one rename wins) and looks again, so a live lock is
never removed.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import UcfNbError
from ..files import SPACE_ERRNOS, store_write_error, store_writes
from ..paths import display_path, resolve_path

__all__ = ["ShardBusyError"]  # public; hold_shard_lock, check_out_dir_writable: from this module

LOCK_DIR = ".extract-locks"
#: seconds without a heartbeat after which a lock held from another host is stale
STALE_AFTER = 300.0
#: seconds between two heartbeats of a live lock
HEARTBEAT_EVERY = 30.0


class ShardBusyError(UcfNbError, RuntimeError):
    """Another process is extracting the same split and shard into the same ``out_dir``.

    Attributes ``owner`` (the lock's JSON: host, pid, started_at, slurm_job_id) and ``path``
    (the lock file).
    """

    def __init__(self, message: str, *, owner: dict[str, Any], path: Path):
        super().__init__(message)
        self.owner = owner
        self.path = path


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def check_out_dir_writable(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed and prove that a file can be written there.

    Raises
    ------
    PermissionError
        One sentence naming ``out_dir``, the cause and the fix (any ``OSError`` met while
        creating the folder or a probe file is reported this way, with its errno), except:
    ucf_nb.StoreWriteError
        The disk or quota is full (ENOSPC, EDQUOT, EFBIG). The probe file is removed either way.
    """
    out = resolve_path(out_dir)
    probe = out / f".write-test-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            os.write(fd, b"ok")
            os.fsync(fd)
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(probe)  # also when the write failed (a full disk): nothing left behind
    except OSError as exc:
        if exc.errno in SPACE_ERRNOS:  # writable, but full: the store's sentence, not "not writable"
            raise store_write_error(exc, out) from exc
        why = exc.strerror or type(exc).__name__
        err = PermissionError(
            exc.errno or errno.EACCES,
            f"out_dir {display_path(out)} is not writable ({why}"
            f"{': ' + display_path(exc.filename) if exc.filename else ''}): pass an out_dir "
            "this user can write to, or fix the folder's permissions or mount",
        )
        raise err from exc
    return out


@dataclass
class ShardLock:
    """A held shard lock; :meth:`release` it (or use :func:`hold_shard_lock` as a context)."""

    path: Path
    owner: dict[str, Any]
    heartbeat_every: float = HEARTBEAT_EVERY
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(self.heartbeat_every):
                with contextlib.suppress(OSError):
                    if self._is_mine():
                        os.utime(self.path)

        self._thread = threading.Thread(target=beat, name=f"heartbeat {self.path.name}", daemon=True)
        self._thread.start()

    def _is_mine(self) -> bool:
        try:
            return json.loads(self.path.read_text()).get("token") == self.owner["token"]
        except (OSError, ValueError):
            return False

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file, if it is still this process's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._is_mine():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def __enter__(self) -> ShardLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _lock_path(out_dir: Path, split: str, shard_index: int, num_shards: int) -> Path:
    return out_dir / LOCK_DIR / f"{split}.shard-{int(shard_index)}-of-{int(num_shards)}.lock"


def _read_owner(path: Path) -> tuple[dict[str, Any] | None, float | None]:
    """The lock's JSON and the age of its heartbeat in seconds (None, None when gone)."""
    try:
        text = path.read_text()
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None, None
    try:
        owner = json.loads(text)
    except ValueError:  # being written right now, or garbage: judged by its age only
        owner = {}
    return (owner if isinstance(owner, dict) else {}), age


def _is_stale(owner: dict[str, Any], age: float, stale_after: float) -> bool:
    if age > stale_after:
        return True
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        try:
            os.kill(owner["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


def _break(path: Path, stale_after: float) -> None:
    moved = path.with_name(f"{path.name}.stale-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    try:
        os.rename(path, moved)
    except FileNotFoundError:
        return
    owner, age = _read_owner(moved)
    if owner is not None and age is not None and not _is_stale(owner, age, stale_after):
        with contextlib.suppress(FileExistsError):
            os.link(moved, path)  # it was taken between the check and the rename: put it back
    with contextlib.suppress(FileNotFoundError):
        os.unlink(moved)


def _busy_message(
    path: Path,
    owner: dict[str, Any],
    age: float,
    split: str,
    shard_index: int,
    num_shards: int,
    out_dir: Path,
    stale_after: float,
) -> str:
    who = f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}, started {owner.get('started_at', '?')}"
    if owner.get("slurm_job_id"):
        who += f", SLURM job {owner['slurm_job_id']}"
    return (
        f"shard {shard_index + 1} of {num_shards} of split {split!r} in {display_path(out_dir)} is being "
        f"extracted by another process ({who}; last heartbeat {age:.0f} s ago): wait for it to finish "
        f"(then this command has nothing left to do), run another shard, or, if that process is gone, "
        f"delete {display_path(path)} (it is broken automatically {stale_after / 60:.0f} min after "
        "its last heartbeat)"
    )


def hold_shard_lock(
    out_dir: str | os.PathLike,
    split: str,
    shard_index: int = 0,
    num_shards: int = 1,
    *,
    stale_after: float = STALE_AFTER,
    heartbeat_every: float = HEARTBEAT_EVERY,
) -> ShardLock:
    """Take the lock of shard ``shard_index`` of ``num_shards`` of ``split`` in ``out_dir``.

    Parameters
    ----------
    out_dir : str or path-like
        The extraction's output folder (created when absent).
    split : str
    shard_index, num_shards : int
    stale_after : float
        Seconds without a heartbeat after which a lock is stale, whatever host took it.
    heartbeat_every : float
        Seconds between heartbeats of the lock taken here (must be well below ``stale_after``).

    Returns
    -------
    ShardLock
        Held, its heartbeat running; release it with :meth:`ShardLock.release` or a ``with``.

    Raises
    ------
    ShardBusyError
        A live process holds the lock; the message names it and what to do.
    PermissionError
        ``out_dir`` is not writable (see :func:`check_out_dir_writable`).
    """
    if not heartbeat_every < stale_after:
        raise ValueError(f"heartbeat_every={heartbeat_every} must be smaller than stale_after={stale_after}")
    out = check_out_dir_writable(out_dir)
    path = _lock_path(out, split, shard_index, num_shards)
    path.parent.mkdir(parents=True, exist_ok=True)
    owner = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": _now_iso(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID") or None,
        "split": split,
        "shard_index": int(shard_index),
        "num_shards": int(num_shards),
        "token": uuid.uuid4().hex,
    }
    for _ in range(20):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            other, age = _read_owner(path)
            if other is None or age is None:
                continue  # released meanwhile: try again
            if _is_stale(other, age, stale_after):
                _break(path, stale_after)
                continue
            raise ShardBusyError(
                _busy_message(path, other, age, split, int(shard_index), int(num_shards), out, stale_after),
                owner=other,
                path=path,
            ) from None

        try:
            with store_writes(out):  # a full disk: StoreWriteError, and no lock left behind
                os.write(fd, json.dumps(owner).encode())
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        os.close(fd)
        lock = ShardLock(path=path, owner=owner, heartbeat_every=heartbeat_every)
        lock.start_heartbeat()
        return lock
    raise ShardBusyError(
        f"could not take {path} after 20 tries: other processes keep taking and releasing it", owner={}, path=path
    )
