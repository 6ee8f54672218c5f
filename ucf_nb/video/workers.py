"""DataLoader workers that start safely and a watchdog that names what they were doing.

Why not ``fork``: a process that has used OpenCV's thread pool (``cv2.resize`` on a big
frame in a notebook, ``build_index`` in a script) and then forks gives its children a copy
of a pool whose threads do not exist there; the first OpenCV call that touches the pool in
a child (``cv2.setNumThreads``, a parallel resize) waits for ever. Workers are therefore
started with ``forkserver`` (``spawn`` where there is none): they begin from a fresh
interpreter, whatever the parent did. :func:`worker_context` says which.

Start-up cost: the fork server is started once per process (it imports torch and
:mod:`ucf_nb.video.dataset`, preloaded), then each worker is forked from it; see
``benchmarks/worker_start.py`` for the numbers, a few seconds at most against hours of
extraction.

A start method other than ``fork`` normally re-runs the user's script (``__main__``) in
every worker, so an unguarded script calling :func:`ucf_nb.extract_split` would run again
inside its own workers. The workers need nothing from ``__main__`` (the stream and its
collate function live in :mod:`ucf_nb.video.dataset`), so :func:`main_not_reimported` hides the
script from them while they start: a script needs no ``if __name__ == "__main__":``.

Orphans: a DataLoader worker is forked from the fork server, not from the process that runs
the extraction, and each one holds the fork server's "alive" pipe and the resource tracker's
pipe open; after a ``kill -9`` of the extraction they kept each other (and the resource
tracker) alive for ever. So each worker watches the extraction's process
(:func:`worker_init`: a thread blocked on a pidfd of that process, Linux >= 5.3; a
once-a-second poll elsewhere) and exits the moment it ends; the fork server then sees its
pipe closed and exits, and the resource tracker exits with the last of them.

Watchdog: each worker writes, before each video segment, a small JSON note (worker id,
pid, video, frames, index rows, time) into a private folder; when no batch arrives for
``stall_timeout`` seconds, :func:`stalled_message` turns those notes into the sentence of
:class:`ExtractStalledError`.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..checks import UcfNbError
from ..paths import display_path

__all__ = ["ExtractStalledError"]  # public; the rest is used by extract_split from this module

#: the start method of DataLoader workers, first available of these
START_METHODS = ("forkserver", "spawn")
START_METHOD = next(m for m in START_METHODS if m in multiprocessing.get_all_start_methods())
_PRELOAD = ["torch", "ucf_nb.video.dataset"]


class ExtractStalledError(UcfNbError, TimeoutError):
    """No batch came from the DataLoader workers for ``stall_timeout`` seconds."""


def worker_context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context DataLoader workers start with (:data:`START_METHOD`).

    With ``forkserver``, the server preloads torch and :mod:`ucf_nb.video.dataset` so that each
    worker forks from an interpreter that has imported them but never used OpenCV.
    """
    ctx = multiprocessing.get_context(START_METHOD)
    if START_METHOD == "forkserver":
        ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def start_early() -> None:
    """Start the fork server now, so that its import of torch runs while the caller loads the
    model, not after (the first workers then fork from a ready server)."""
    if START_METHOD != "forkserver":
        return
    from multiprocessing import forkserver

    worker_context()
    with main_not_reimported():
        forkserver.ensure_running()


@contextlib.contextmanager
def main_not_reimported() -> Iterator[None]:
    """While workers start, show multiprocessing a ``__main__`` without a file or spec, as in
    an interactive session, so that the workers do not import the user's script.

    Only the ``sys.modules`` entry is swapped (for the milliseconds the workers take to
    start), never the user's module itself.
    """
    main = sys.modules.get("__main__")
    if main is None or (getattr(main, "__spec__", None) is None and getattr(main, "__file__", None) is None):
        yield
        return
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def worker_init(owner_pid: int, worker_id: int) -> None:
    """DataLoader ``worker_init_fn`` (bind ``owner_pid`` with :func:`functools.partial`):
    exit this worker as soon as process ``owner_pid`` (the one running the extraction) ends,
    whatever killed it. See the module's docstring."""
    import threading

    threading.Thread(target=_exit_when_gone, args=(int(owner_pid),), name="ucf_nb-owner-watch", daemon=True).start()


def _exit_when_gone(pid: int) -> None:
    """Block until process ``pid`` ends, then end this process at once (``os._exit``)."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (not Linux, kernel < 5.3) or already gone
        fd = None
    if fd is not None:
        select.select([fd], [], [])  # readable once the process has ended
        os._exit(1)
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # alive, another user's (cannot happen for our parent)
            pass
        time.sleep(1.0)


def note_segment(folder: str | os.PathLike | None, worker_id: int, *, path: Any, rows: Any, frames: Any) -> None:
    """Record (atomically) the segment worker ``worker_id`` starts decoding now.

    ``rows``: the segment's index row numbers; ``frames``: its sampled frame numbers
    (K, T). Does nothing when ``folder`` is None (no watchdog).
    """
    if folder is None:
        return

    note = {
        "worker": int(worker_id),
        "pid": os.getpid(),
        "video": display_path(path),
        "first_frame": int(frames.min()) if len(frames) else None,
        "end_frame": int(frames.max()) + 1 if len(frames) else None,
        "rows": [int(rows[0]), int(rows[-1])] if len(rows) else [],
        "n_clips": int(len(rows)),
        "since": time.time(),
    }
    dest = Path(folder) / f"worker-{int(worker_id)}.json"
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(note))
        os.replace(tmp, dest)
    except OSError:  # the watchdog's notes must never stop the work itself
        pass


def read_notes(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """The workers' latest notes, by worker id."""
    out = []
    for p in sorted(Path(folder).glob("worker-*.json")):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda n: n.get("worker", 0))


def stalled_message(
    folder: str | os.PathLike, *, num_workers: int, stall_timeout: float, split: str, n_done: int, n_pending: int
) -> str:
    """One sentence: nothing came for ``stall_timeout`` s, what each worker was decoding, what to do."""
    notes = {n.get("worker"): n for n in read_notes(folder)}
    now = time.time()
    parts = []
    for w in range(num_workers):
        n = notes.get(w)
        if n is None:
            parts.append(f"worker {w} had not started a video")
        else:
            parts.append(
                f"worker {w} (pid {n['pid']}) was decoding {n['video']} frames "
                f"[{n['first_frame']}, {n['end_frame']}) for index rows {n['rows'][0]}-{n['rows'][-1]} "
                f"since {now - n['since']:.0f} s"
            )
    return (
        f"no batch arrived for {stall_timeout:.0f} s while extracting split {split!r} ({n_done} of "
        f"{n_pending} pending clips done this run, all of them kept): {'; '.join(parts)}; run the same "
        "command again to resume, check or re-encode the video named here if it stalls again, or raise "
        "stall_timeout if decoding is just slow on this machine"
    )
