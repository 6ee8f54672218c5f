"""Shard tasks on submitit: submit them, and tell from squeue, result files and logs what
became of each (running, done, or failed and why). The launcher's machinery, kept apart from
:mod:`ucf_nb.extract.launch` (what to run, when to retry, the command line); not public.

Task state. submitit reads SLURM job states with ``sacct``, which needs SLURM accounting;
without it (many small clusters, and the test cluster) ``sacct`` has nothing. So the
launcher decides from ``squeue`` (is the task still queued or running?) and from the files
the task leaves: submitit's result file (the task returned or raised) and the shard's own
status file in ``out_dir`` (which rows are done). A task that is neither queued nor running
and left no result was killed: it is resubmitted at the next poll.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import file_sha256
from ..paths import display_path, resolve_path
from ..store.arrays import PENDING, array_sha256
from .split import extract_split
from .split import split_rows as rows_of


@dataclass
class ShardJob:
    """One shard of one split, as the launcher sees it.

    ``state``: ``"finished"`` (done before this call, nothing submitted), ``"queued"``
    (waiting for a free local slot), ``"running"`` (submitted, queued or running), ``"done"``,
    or ``"failed"`` (after ``max_retries`` retries). ``job_id`` is the SLURM job id
    (``"1234_5"`` for task 5 of array 1234) or the local process id of the latest attempt;
    ``attempts`` counts the submissions of this call; ``log`` is
    ``out_dir/logs/{split}/shard-{k}-of-{n}.log``; ``error`` the last error line of a failed
    attempt.
    """

    split: str
    shard_index: int
    num_shards: int
    state: str = "queued"
    job_id: str | None = None
    attempts: int = 0
    log: Path | None = None
    error: str | None = None
    job: Any = field(default=None, repr=False, compare=False)
    gpu: int | None = field(default=None, repr=False, compare=False)
    _ended_polls: int = field(default=0, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.split} shard {self.shard_index + 1}/{self.num_shards}"


@dataclass(frozen=True)
class ShardTask:
    """What a task runs: ``extract_split`` for one (split, shard) with the run's parameters.

    Picklable by reference (``ucf_nb.extract.tasks.ShardTask``), so the node imports the installed
    ``ucf_nb``. ``checkpoint`` lets submitit requeue the task itself when SLURM signals a
    timeout or pre-emption; the store resumes it where it stopped.
    """

    split: str
    shard_index: int
    num_shards: int
    params: Mapping[str, Any]

    def __call__(self) -> dict[str, Any]:
        import socket

        print(
            f"ucf_nb: split {self.split!r}, shard {self.shard_index + 1} of {self.num_shards} on "
            f"{socket.gethostname()} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')!r})",
            flush=True,
        )
        result = extract_split(
            split=self.split, shard_index=self.shard_index, num_shards=self.num_shards, **dict(self.params)
        )
        print(f"ucf_nb: {json.dumps(result, default=str)}", flush=True)
        return result

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        from submitit.core.utils import DelayedSubmission

        return DelayedSubmission(self)


# submitit's cluster-independent names -> sbatch's (the rest of `slurm` goes to sbatch as is)
_GENERIC = {
    "timeout_min": "time",
    "mem_gb": "mem",
    "cpus_per_task": "cpus_per_task",
    "gpus_per_node": "gpus_per_node",
    "tasks_per_node": "ntasks_per_node",
    "nodes": "nodes",
    "name": "job_name",
}
# squeue states of a task that is not over yet
_LIVE = {
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "RESV_DEL_HOLD",
    "SPECIAL_EXIT",
}
_NEVER_MIN = 60 * 24 * 365 * 10  # the local executor's timeout when none is asked for (10 years)


def _import_submitit() -> Any:
    try:
        import submitit
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "submit_extraction needs submitit: pip install -e '.[cluster]' (or pip install submitit)"
        ) from exc
    return submitit


# --------------------------------------------------------------------------- executors


class Backend:
    """Submits shard tasks through a submitit executor and tells what became of them."""

    def __init__(
        self, kind: str, logs: Path, options: Mapping[str, Any], max_parallel: int | None, log: Callable[[str], None]
    ) -> None:
        self.kind, self.logs, self.log = kind, logs, log
        self.submitit = _import_submitit()
        self.options = dict(options)
        self.max_parallel = max_parallel
        self._squeue_warned = False

    def executor(self, split: str, gpu: int | None = None) -> Any:
        folder = self.logs / split
        if self.kind == "slurm":
            ex = self.submitit.SlurmExecutor(folder=folder)
            params: dict[str, Any] = {"time": None, "job_name": f"ucf_nb-{split}", "stderr_to_stdout": True}
            for k, v in self.options.items():
                if k == "mem_gb":
                    v = f"{int(v)}GB" if float(v) == int(v) else f"{int(float(v) * 1024)}MB"
                params[_GENERIC.get(k, k)] = v
            if self.max_parallel:
                params["array_parallelism"] = int(self.max_parallel)
            try:
                ex.update_parameters(**params)
            except ValueError as exc:
                raise ValueError(f"--slurm {self.options}: {exc}") from None
            return ex
        ex = self.submitit.LocalExecutor(folder=folder)
        params = {"timeout_min": self.options.get("timeout_min", _NEVER_MIN), "stderr_to_stdout": True}
        if gpu is not None:
            params.update(gpus_per_node=1, visible_gpus=[gpu])
        else:  # submitit hides every GPU from a local task that asks for none: give back this process's
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            params["setup"] = [
                "unset CUDA_VISIBLE_DEVICES"
                if visible is None
                else f"export CUDA_VISIBLE_DEVICES={shlex.quote(visible)}"
            ]
        ex.update_parameters(**params)
        return ex

    def submit(self, split: str, tasks: list[ShardTask], gpu: int | None = None) -> list[Any]:
        ex = self.executor(split, gpu)
        if len(tasks) == 1:
            return [ex.submit(tasks[0])]
        return ex.submit_array(tasks)

    def attach(self, split: str, job_id: str) -> Any:
        cls = self.submitit.SlurmJob if self.kind == "slurm" else self.submitit.LocalJob
        return cls(folder=self.logs / split, job_id=job_id)

    def live_states(self, jobs: Sequence[ShardJob]) -> dict[str, str] | None:
        """SLURM state of each job id still known to ``squeue`` (None when squeue fails)."""
        if self.kind != "slurm":
            return {}
        out: subprocess.CompletedProcess[str] | None
        try:
            out = subprocess.run(
                ["squeue", "-h", "-r", "-t", "all", "-u", getpass.getuser(), "-o", "%i|%T"],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            out, err = None, str(exc)
        else:
            err = out.stderr.strip()
        if out is None or out.returncode != 0:
            if not self._squeue_warned:
                self.log(f"warning: squeue failed ({err}); waiting for the controller")
                self._squeue_warned = True
            return None
        states = {}
        for line in out.stdout.splitlines():
            job_id, _, state = line.partition("|")
            states[job_id.strip()] = state.strip().split()[0] if state.strip() else "UNKNOWN"
        return states

    def is_live(self, sj: ShardJob, states: Mapping[str, str]) -> bool | None:
        if self.kind == "slurm":
            state = states.get(str(sj.job_id))
            return state in _LIVE if state is not None else False
        job = sj.job
        if getattr(job, "_process", None) is not None:
            return job._process.poll() is None
        try:  # a process started by an earlier launcher
            os.kill(int(sj.job_id or ""), 0)  # no id: ValueError, as a bad one
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:
            return True
        return True

    def final_state(self, sj: ShardJob, states: Mapping[str, str]) -> str:
        """How SLURM says the job ended: squeue (recent jobs), else sacct through submitit."""
        if self.kind != "slurm":
            return "ended"
        state = states.get(str(sj.job_id))
        if state is None:
            logger = logging.getLogger("submitit")
            level = logger.level
            logger.setLevel(logging.ERROR)  # without accounting submitit warns at every sacct call
            try:
                state = sj.job.watcher.get_state(str(sj.job_id), mode="force")
            except Exception:  # noqa: BLE001 - sacct is a hint only
                state = "UNKNOWN"
            finally:
                logger.setLevel(level)
        return state if state and state != "UNKNOWN" else "ended (no accounting record)"


# ------------------------------------------------------------------------------- reading


def task_result(job: Any) -> tuple[str, Any] | None:
    """submitit's result file of ``job``: ("success", value) or ("error", traceback), else None."""
    from submitit.core.utils import pickle_load

    path = job.paths.result_pickle
    if not path.exists():
        return None
    try:  # our own tasks wrote it (never from elsewhere)
        return pickle_load(path)
    except (EOFError, OSError, ValueError):
        return None


def last_error_line(text: str) -> str | None:
    """The last line of ``text`` that reads like an error (progress bars ignored), else its last line."""
    lines = [ln.strip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("submitit INFO")]
    keys = ("Error", "error:", "Exception", "CANCELLED", "Killed", "killed", "Traceback", "DUE TO")
    for ln in reversed(lines):
        if any(k in ln for k in keys) and not ln.startswith("Traceback"):
            return ln
    return lines[-1] if lines else None


def _log_tail(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 20000))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ------------------------------------------------------------------- what is already done


def rows_by_split(params: Mapping[str, Any], splits: Sequence[str]) -> dict[str, np.ndarray]:
    """Index row numbers of each split (after ``limit``), exactly as extract_split selects them."""
    index_file = resolve_path(params["index_path"])
    return {
        split: rows_of(index_file, split, video_root=params.get("video_root"), limit=params.get("limit"))[1]
        for split in splits
    }


def _checkpoint_name(checkpoint: Any) -> str:
    """How the manifest spells ``checkpoint`` (a local folder: relative to the project root)."""
    folder = resolve_path(checkpoint)
    return display_path(folder) if folder.is_dir() else os.fspath(checkpoint)


def finished_before(store: Any, split: str, rows: np.ndarray, params: Mapping[str, Any]) -> bool:
    """True when the manifest records ``split`` as finished from this index, these rows and the
    settings known without loading the model (checkpoint, T, img_size, pooling; precision when
    one is asked for). A difference in anything else is found, and reported, by the task."""
    m = store.manifest()
    entry = m.get("splits", {}).get(split)
    if not store.is_complete(split) or not entry:
        return False
    want = {
        "index": file_sha256(resolve_path(params["index_path"])),
        "rows": array_sha256(rows),
        "checkpoint": _checkpoint_name(params["checkpoint"]),
    }
    have = {
        "index": m.get("index", {}).get("sha256"),
        "rows": entry.get("rows_sha256"),
        "checkpoint": m.get("model", {}).get("checkpoint"),
    }
    for key in ("T", "img_size", "pooling", "precision"):  # None / "auto": the checkpoint's or device's own
        if params.get(key) not in (None, "auto"):
            want[key], have[key] = params[key], m.get(key)
    return want == have


def unfinished_shards(store: Any, split: str, num_shards: int) -> list[int]:
    """Shards of ``split`` with rows still pending (all of them when the split was not started).

    When every shard is done but the split was not assembled (its last task died while
    assembling), shard 0 is returned: running it assembles the split.
    """
    split_dir = store.work_dir / split
    layout_file = split_dir / "layout.json"
    if not layout_file.exists():
        return list(range(num_shards))
    layout = json.loads(layout_file.read_text())
    if layout["num_shards"] != num_shards:
        raise ValueError(
            f"split {split!r} in {display_path(store.out_dir)} was started with num_shards="
            f"{layout['num_shards']}: pass num_shards={layout['num_shards']} to finish it, or delete "
            f"{display_path(split_dir)} to start it over with {num_shards} shards"
        )
    todo = []
    for k in range(num_shards):
        folder = split_dir / f"shard-{k}-of-{num_shards}"
        a, b = layout["bounds"][k], layout["bounds"][k + 1]
        if not folder.exists() or (b > a and (np.load(folder / "status.npy", mmap_mode="r") == PENDING).any()):
            todo.append(k)
    return todo or [0]


def _shard_finished(store: Any, split: str, k: int, n: int) -> bool:
    """True when the split is assembled, or shard ``k`` of it has no pending row left."""
    if store.is_complete(split):
        return True
    folder = store.work_dir / split / f"shard-{k}-of-{n}"
    try:
        return not (np.load(folder / "status.npy", mmap_mode="r") == PENDING).any()
    except (FileNotFoundError, ValueError, OSError):
        return False


def task_outcome(backend: Backend, store: Any, sj: ShardJob, states: Mapping[str, str]) -> tuple[str, str | None]:
    """("running" | "done" | "failed", reason) for the latest attempt of ``sj``."""
    res = task_result(sj.job)
    if res is not None:
        status, value = res
        if status == "success":
            if _shard_finished(store, sj.split, sj.shard_index, sj.num_shards):
                return "done", None
            return "failed", "the task returned with rows of its shard still pending"
        return "failed", last_error_line(str(value)) or "the task raised (see its log)"
    live = backend.is_live(sj, states)
    if live:
        sj._ended_polls = 0
        return "running", None
    # Ended without a result file: killed (scancel, kill -9, node failure, out of memory), or the
    # result file is not visible yet on a shared filesystem: decide at the second look.
    sj._ended_polls += 1
    if sj._ended_polls < 2:
        return "running", None
    if _shard_finished(store, sj.split, sj.shard_index, sj.num_shards):
        return "done", None
    state = backend.final_state(sj, states)
    line = last_error_line(_log_tail(_real_log(sj)))
    return "failed", f"{state} without a result" + (f", last log line: {line}" if line else "")


def _real_log(sj: ShardJob) -> Path | None:
    return Path(sj.job.paths.stdout) if sj.job is not None else None


def shown_log(sj: ShardJob) -> str:
    real = _real_log(sj)
    if real is not None and sj.log is not None:
        return f"{display_path(sj.log)} -> {real.name}"
    return display_path(sj.log) if sj.log is not None else "n/a"


def link_log(sj: ShardJob, job: Any) -> None:
    """``logs/{split}/shard-{k}-of-{n}.log`` -> this attempt's submitit log (same folder)."""
    if sj.log is None:
        return
    target = Path(job.paths.stdout).name
    tmp = sj.log.with_name(f".{sj.log.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, sj.log)
