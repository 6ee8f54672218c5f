"""Extraction beyond one process: each (split, shard) a task of a SLURM job array, or a local process.

:func:`submit_extraction` runs :func:`ucf_nb.extract_split` for every shard of every split
through `submitit <https://github.com/facebookincubator/submitit>`_: on SLURM one job array per
split and round (``sbatch``), or with ``executor="local"`` as processes on this machine. It
waits, resubmits a task that failed, was cancelled, pre-empted or killed (the store resumes it
per batch), and reports a task that keeps failing with its log file and last error line while
the other shards and splits go on. The last shard of a split to finish assembles it, exactly
as when the shards are run by hand.

Task state. submitit reads SLURM job states with ``sacct``, which needs SLURM accounting;
without it (many small clusters, and the test cluster) ``sacct`` has nothing. So the
launcher decides from ``squeue`` (is the task still queued or running?) and from the files
the task leaves: submitit's result file (the task returned or raised) and the shard's own
status file in ``out_dir`` (which rows are done). A task that is neither queued nor running
and left no result was killed: it is resubmitted at the next poll (``poll_s``).

Files, under ``out_dir/logs/``: per split, submitit's job files and logs, and
``shard-{k}-of-{n}.log`` (a link to the log of the shard's latest attempt, stdout and stderr
together); ``jobs.json`` lists the tasks submitted and not yet finished, so that running the
same command again (after ``wait=False``, or after the launcher itself was stopped) waits for
them instead of submitting them twice.

This is the only module of ``ucf_nb`` that imports submitit: ``pip install -e .[cluster]``.
"""
from __future__ import annotations

import contextlib
import getpass
import inspect
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .checks import check_int
from .paths import display_path, resolve_path

__all__ = ["submit_extraction", "ShardJob", "ExtractionFailedError", "parse_slurm_options"]

EXECUTORS = ("auto", "slurm", "local")
# submitit's cluster-independent names -> sbatch's (the rest of `slurm` goes to sbatch as is)
_GENERIC = {"timeout_min": "time", "mem_gb": "mem", "cpus_per_task": "cpus_per_task",
            "gpus_per_node": "gpus_per_node", "tasks_per_node": "ntasks_per_node", "nodes": "nodes",
            "name": "job_name"}
# squeue states of a task that is not over yet
_LIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
         "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "SPECIAL_EXIT"}
_NEVER_MIN = 60 * 24 * 365 * 10  # the local executor's timeout when none is asked for (10 years)
_JOBS_FILE = "jobs.json"


class ExtractionFailedError(RuntimeError):
    """Some shard still failed after every retry; ``jobs`` holds every :class:`ShardJob`."""

    def __init__(self, message: str, jobs: list["ShardJob"]) -> None:
        super().__init__(message)
        self.jobs = jobs


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

    Picklable by reference (``ucf_nb.launch.ShardTask``), so the node imports the installed
    ``ucf_nb``. ``checkpoint`` lets submitit requeue the task itself when SLURM signals a
    timeout or pre-emption; the store resumes it where it stopped.
    """

    split: str
    shard_index: int
    num_shards: int
    params: Mapping[str, Any]

    def __call__(self) -> dict[str, Any]:
        import socket

        from .extract import extract_split

        print(f"ucf_nb: split {self.split!r}, shard {self.shard_index + 1} of {self.num_shards} on "
              f"{socket.gethostname()} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')!r})",
              flush=True)
        result = extract_split(split=self.split, shard_index=self.shard_index, num_shards=self.num_shards,
                               **dict(self.params))
        print(f"ucf_nb: {json.dumps(result, default=str)}", flush=True)
        return result

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        from submitit.core.utils import DelayedSubmission

        return DelayedSubmission(self)


# ------------------------------------------------------------------------------ parameters

def parse_slurm_options(text: str | None) -> dict[str, Any]:
    """``"partition=gpu,gpus_per_node=1,timeout_min=120"`` -> a dict (ints where they parse).

    Names are submitit's cluster-independent ones (``timeout_min``, ``mem_gb``,
    ``cpus_per_task``, ``gpus_per_node``, ``tasks_per_node``, ``nodes``, ``name``) or any
    ``sbatch`` option in submitit's spelling (``partition``, ``account``, ``qos``,
    ``constraint``, ``gres``, ``exclude``, ...).
    """
    out: dict[str, Any] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name.isidentifier():
            raise ValueError(f"--slurm {text!r}: expected NAME=VALUE[,NAME=VALUE...], e.g. "
                             f"partition=gpu,gpus_per_node=1 (bad item {item!r})")
        value = value.strip()
        try:
            out[name] = int(value)
        except ValueError:
            try:
                out[name] = float(value)
            except ValueError:
                out[name] = value
    return out


def _extract_defaults() -> dict[str, Any]:
    from .extract import extract_split

    return {n: p.default for n, p in inspect.signature(extract_split).parameters.items()}


def _check_params(extract_params: Mapping[str, Any]) -> dict[str, Any]:
    defaults = _extract_defaults()
    reserved = {"split", "shard_index", "num_shards"}
    bad = sorted(set(extract_params) & reserved)
    if bad:
        raise ValueError(f"submit_extraction: {bad[0]} is set by the launcher (one task per split and shard); "
                         "pass splits and num_shards instead")
    unknown = sorted(set(extract_params) - set(defaults))
    if unknown:
        raise ValueError(f"submit_extraction: {unknown[0]!r} is not a parameter of extract_split "
                         f"(its parameters: {', '.join(sorted(set(defaults) - reserved))})")
    if extract_params.get("resume", True) is not True:
        raise ValueError("submit_extraction: resume=False is not supported (shards running at once would delete "
                         "each other's work): delete the split's outputs in out_dir first, or use another out_dir")
    return {**{k: v for k, v in defaults.items() if k not in reserved}, **dict(extract_params)}


def _which_executor(executor: str) -> str:
    if executor not in EXECUTORS:
        raise ValueError(f"submit_extraction: executor must be one of {EXECUTORS}, got executor={executor!r}")
    if executor == "auto":
        return "slurm" if shutil.which("sbatch") else "local"
    if executor == "slurm" and not shutil.which("sbatch"):
        raise RuntimeError("executor='slurm' but sbatch is not on the PATH: run this on a SLURM login node, "
                           "or pass executor='local'")
    return executor


def _import_submitit() -> Any:
    try:
        import submitit
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("submit_extraction needs submitit: pip install -e '.[cluster]' "
                          "(or pip install submitit)") from exc
    return submitit


# ------------------------------------------------------------------- what is already done

def _split_rows(params: Mapping[str, Any], splits: Sequence[str]) -> dict[str, np.ndarray]:
    """Index row numbers of each split (after ``limit``), exactly as extract_split selects them."""
    from .extract import _split_rows as rows_of

    index_file = resolve_path(params["index_path"])
    return {split: rows_of(index_file, split, video_root=params.get("video_root"), limit=params.get("limit"))[1]
            for split in splits}


def _checkpoint_name(checkpoint: Any) -> str:
    """How the manifest spells ``checkpoint`` (a local folder: relative to the project root)."""
    folder = resolve_path(checkpoint)
    return display_path(folder) if folder.is_dir() else os.fspath(checkpoint)


def _finished_before(store: Any, split: str, rows: np.ndarray, params: Mapping[str, Any]) -> bool:
    """True when the manifest records ``split`` as finished from this index, these rows and the
    settings known without loading the model (checkpoint, T, img_size, pooling; precision when
    one is asked for). A difference in anything else is found, and reported, by the task."""
    from .files import file_sha256
    from .store import _array_sha256

    m = store.manifest()
    entry = m.get("splits", {}).get(split)
    if not store.is_complete(split) or not entry:
        return False
    want = {"index": file_sha256(resolve_path(params["index_path"])), "rows": _array_sha256(rows),
            "checkpoint": _checkpoint_name(params["checkpoint"])}
    have = {"index": m.get("index", {}).get("sha256"), "rows": entry.get("rows_sha256"),
            "checkpoint": m.get("model", {}).get("checkpoint")}
    for key in ("T", "img_size", "pooling", "precision"):  # None / "auto": the checkpoint's or device's own
        if params.get(key) not in (None, "auto"):
            want[key], have[key] = params[key], m.get(key)
    return want == have


def _unfinished_shards(store: Any, split: str, num_shards: int) -> list[int]:
    """Shards of ``split`` with rows still pending (all of them when the split was not started).

    When every shard is done but the split was not assembled (its last task died while
    assembling), shard 0 is returned: running it assembles the split.
    """
    from .store import PENDING

    split_dir = store.work_dir / split
    layout_file = split_dir / "layout.json"
    if not layout_file.exists():
        return list(range(num_shards))
    layout = json.loads(layout_file.read_text())
    if layout["num_shards"] != num_shards:
        raise ValueError(f"split {split!r} in {display_path(store.out_dir)} was started with num_shards="
                         f"{layout['num_shards']}: pass num_shards={layout['num_shards']} to finish it, or delete "
                         f"{display_path(split_dir)} to start it over with {num_shards} shards")
    todo = []
    for k in range(num_shards):
        folder = split_dir / f"shard-{k}-of-{num_shards}"
        a, b = layout["bounds"][k], layout["bounds"][k + 1]
        if not folder.exists() or (b > a and (np.load(folder / "status.npy", mmap_mode="r") == PENDING).any()):
            todo.append(k)
    return todo or [0]


def _shard_finished(store: Any, split: str, k: int, n: int) -> bool:
    """True when the split is assembled, or shard ``k`` of it has no pending row left."""
    from .store import PENDING

    if store.is_complete(split):
        return True
    folder = store.work_dir / split / f"shard-{k}-of-{n}"
    try:
        return not (np.load(folder / "status.npy", mmap_mode="r") == PENDING).any()
    except (FileNotFoundError, ValueError, OSError):
        return False


# --------------------------------------------------------------------------- executors

class _Backend:
    """Submits shard tasks through a submitit executor and tells what became of them."""

    def __init__(self, kind: str, logs: Path, options: Mapping[str, Any], max_parallel: int | None,
                 log: Callable[[str], None]) -> None:
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
            params["setup"] = ["unset CUDA_VISIBLE_DEVICES" if visible is None
                               else f"export CUDA_VISIBLE_DEVICES={shlex.quote(visible)}"]
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
        try:
            out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-u", getpass.getuser(), "-o", "%i|%T"],
                                 capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            out = None
            err = str(exc)
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
            os.kill(int(sj.job_id), 0)
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

def _result(job: Any) -> tuple[str, Any] | None:
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


# ---------------------------------------------------------------------------- the launcher

def submit_extraction(splits: str | Sequence[str], num_shards: int, *, executor: str = "auto",
                      slurm: Mapping[str, Any] | str | None = None, wait: bool = True, max_retries: int = 2,
                      max_parallel: int | None = None, gpus: Sequence[int] | None = None, poll_s: float = 10.0,
                      log: Callable[[str], None] = print, **extract_params: Any) -> list[ShardJob]:
    """Extract ``splits`` in ``num_shards`` shards each, as SLURM array tasks or local processes.

    Parameters
    ----------
    splits : str or sequence of str
        Splits of the index to extract (``"train"``, ``"val"``, ``"test"``).
    num_shards : int
        Shards per split (blocks of whole videos); one task each.
    executor : {"auto", "slurm", "local"}
        ``"slurm"``: one job array per split (``sbatch``); ``"local"``: processes on this
        machine; ``"auto"``: SLURM where ``sbatch`` exists, else local.
    slurm : mapping or str, optional
        What the tasks ask SLURM for, e.g. ``{"partition": "gpu", "gpus_per_node": 1,
        "cpus_per_task": 8, "timeout_min": 120}`` or the same as ``"partition=gpu,..."``:
        submitit's names (``timeout_min``, ``mem_gb``, ``cpus_per_task``, ``gpus_per_node``)
        or any sbatch option in submitit's spelling (``account``, ``qos``, ``constraint``...).
        Nothing is asked for by default (no GPU, memory or time limit). The local executor
        uses ``timeout_min`` only.
    wait : bool
        True: wait until every task is done or has failed ``max_retries + 1`` times, printing
        a progress line per split. False: submit, say how to follow the jobs, return.
    max_retries : int
        How many times a failed, cancelled, pre-empted or killed task is resubmitted.
    max_parallel : int, optional
        Tasks running at once: SLURM's array throttle (``%N``); local processes (default 1,
        or one per GPU of ``gpus``).
    gpus : sequence of int, optional
        Local executor: GPUs to share out, one task per GPU at a time
        (``CUDA_VISIBLE_DEVICES``).
    poll_s : float
        Seconds between two looks at the tasks.
    log : callable
        Where the progress lines go (``print``).
    **extract_params
        :func:`ucf_nb.extract_split`'s own parameters (``index_path``, ``out_dir``,
        ``checkpoint``, ``device``...), the same for every task; ``resume=False`` is refused.

    Returns
    -------
    list of ShardJob
        One per (split, shard), in order. With ``wait=True`` every one is ``"finished"``
        (before this call) or ``"done"``.

    Raises
    ------
    ExtractionFailedError
        When some shard failed ``max_retries + 1`` times (after every other task ended): the
        message names each with its log file and last error line; ``.jobs`` has them all.
    """
    if isinstance(splits, str):
        splits = [splits]
    splits = list(splits)
    if not splits or not all(isinstance(s, str) and s for s in splits) or len(set(splits)) != len(splits):
        raise ValueError(f"submit_extraction: splits must be distinct split names such as ['train', 'val'], "
                         f"got splits={splits!r}")
    who = "submit_extraction: "
    num_shards = check_int("num_shards", num_shards, 1, who=who)
    max_retries = check_int("max_retries", max_retries, 0, who=who)
    max_parallel = check_int("max_parallel", max_parallel, 1, allow_none=True, who=who)
    options = parse_slurm_options(slurm) if isinstance(slurm, str) else dict(slurm or {})
    params = _check_params(extract_params)
    kind = _which_executor(executor)
    if gpus is not None:
        gpus = [int(g) for g in gpus]
        if kind != "local" or not gpus:
            raise ValueError("submit_extraction: gpus= shares this machine's GPUs out among local tasks "
                             "(executor='local'); on SLURM pass slurm={'gpus_per_node': 1}")
    if kind == "local":
        ignored = sorted(set(options) - {"timeout_min"})
        if ignored:
            log(f"note: the local executor ignores --slurm {', '.join(ignored)}")
        max_parallel = max_parallel or (len(gpus) if gpus else 1)

    from .store import EmbeddingStore

    store = EmbeddingStore(params["out_dir"])
    rows = _split_rows(params, splits)
    logs = store.out_dir / "logs"
    jobs: list[ShardJob] = []
    todo: dict[str, list[int]] = {}
    for split in splits:
        if _finished_before(store, split, rows[split], params):
            log(f"{split}: already finished in {display_path(store.out_dir)}; nothing to submit")
            jobs += [ShardJob(split, k, num_shards, state="finished") for k in range(num_shards)]
            continue
        todo[split] = _unfinished_shards(store, split, num_shards)
        jobs += [ShardJob(split, k, num_shards, state="finished" if k not in todo[split] else "queued",
                          log=logs / split / f"shard-{k}-of-{num_shards}.log") for k in range(num_shards)]
    if not todo:
        log("every split is finished: nothing submitted")
        return jobs

    backend = _Backend(kind, logs, options, max_parallel, log)
    logs.mkdir(parents=True, exist_ok=True)
    _attach(backend, jobs, logs, log)
    free_gpus = list(gpus or [])
    for sj in jobs:
        if sj.gpu is not None and sj.gpu in free_gpus:
            free_gpus.remove(sj.gpu)

    def launch(batch: list[ShardJob]) -> None:
        by_split: dict[str, list[ShardJob]] = {}
        for sj in batch:
            by_split.setdefault(sj.split, []).append(sj)
        for split, group in by_split.items():
            if kind == "local":  # one process each, with its GPU
                for sj in group:
                    sj.gpu = free_gpus.pop(0) if free_gpus else None
                    _submitted(backend.submit(split, [_task(sj, params)], sj.gpu), [sj])
            else:
                _submitted(backend.submit(split, [_task(sj, params) for sj in group]), group)
        _save_jobs(logs, kind, jobs)

    def _submitted(sjobs: list[Any], group: list[ShardJob]) -> None:
        for job, sj in zip(sjobs, group):
            sj.job, sj.job_id, sj.state, sj._ended_polls = job, str(job.job_id), "running", 0
            sj.attempts += 1
            _link_log(sj, job)
        ids = sorted({str(j.job_id).split("_")[0] for j in sjobs})
        what = "SLURM job array" if kind == "slurm" and len(sjobs) > 1 else (
            "SLURM job" if kind == "slurm" else "local process")
        log(f"{group[0].split}: submitted shard{'s' if len(group) > 1 else ''} "
            f"{', '.join(str(sj.shard_index + 1) for sj in group)} of {num_shards} as {what} {', '.join(ids)}")

    def slots() -> int:
        if kind != "local":
            return 1 << 30
        return max_parallel - sum(sj.state == "running" for sj in jobs)

    queued = [sj for sj in jobs if sj.state == "queued"]
    launch(queued[:slots()])

    if not wait:
        running = [sj for sj in jobs if sj.state == "running"]
        ids = sorted({str(sj.job_id).split("_")[0] for sj in running})
        how = (f"squeue -j {','.join(ids)}" if kind == "slurm" else f"ps -p {','.join(ids)}")
        log(f"not waiting: {len(running)} task(s), job id(s) {', '.join(ids)}; follow them with `{how}` and the "
            f"logs in {display_path(logs)}/; run the same command again to wait for them (nothing running is "
            "submitted twice, failed shards are resubmitted)")
        return jobs

    shown: dict[str, str] = {}
    _progress(jobs, store, shown, log)
    while _requeue_unassembled(jobs, store, max_retries) or any(sj.state in ("running", "queued") for sj in jobs):
        if not any(sj.state == "running" for sj in jobs):
            launch([sj for sj in jobs if sj.state == "queued"][:slots()])
        time.sleep(poll_s)
        states = backend.live_states([sj for sj in jobs if sj.state == "running"])
        if states is None:
            continue
        retry: list[ShardJob] = []
        for sj in jobs:
            if sj.state != "running":
                continue
            outcome, reason = _outcome(backend, store, sj, states)
            if outcome == "running":
                continue
            if sj.gpu is not None:
                free_gpus.append(sj.gpu)
                sj.gpu = None
            if outcome == "done":
                sj.state, sj.error = "done", None
                continue
            sj.error = reason
            if sj.attempts <= max_retries:
                log(f"{sj.name}: {reason}; resubmitting (attempt {sj.attempts + 1} of {max_retries + 1})")
                sj.state = "queued"
                retry.append(sj)
            else:
                sj.state = "failed"
                log(f"{sj.name} failed {sj.attempts} time(s), giving up: {reason} (log: {_shown_log(sj)})")
        queued = [sj for sj in jobs if sj.state == "queued"]
        if queued:
            launch(queued[:slots()])
        else:
            _save_jobs(logs, kind, jobs)
        _progress(jobs, store, shown, log)

    failed = [sj for sj in jobs if sj.state == "failed"]
    if failed:
        lines = [f"{sj.name}: {sj.error} (log: {_shown_log(sj)})" for sj in failed]
        done_splits = [s for s in splits if store.is_complete(s)]
        raise ExtractionFailedError(
            f"{len(failed)} shard(s) failed after {max_retries + 1} attempt(s) each:\n  " + "\n  ".join(lines)
            + f"\nfinished splits: {', '.join(done_splits) or 'none'}; the other shards' work is kept in "
            f"{display_path(store.out_dir)}: fix the cause and run the same command again", jobs)
    return jobs


def _requeue_unassembled(jobs: list[ShardJob], store: Any, max_retries: int) -> bool:
    """Every shard of a split done but the split not assembled (its last task died while
    assembling): queue shard 0 again, whose run assembles it. True when something was queued."""
    queued = False
    for split in dict.fromkeys(sj.split for sj in jobs):
        mine = [sj for sj in jobs if sj.split == split]
        if all(sj.state in ("done", "finished") for sj in mine) and any(sj.state == "done" for sj in mine) \
                and not store.is_complete(split) and mine[0].attempts <= max_retries:
            mine[0].state = "queued"
            queued = True
    return queued


def _task(sj: ShardJob, params: Mapping[str, Any]) -> ShardTask:
    return ShardTask(sj.split, sj.shard_index, sj.num_shards, dict(params))


def _outcome(backend: _Backend, store: Any, sj: ShardJob, states: Mapping[str, str]) -> tuple[str, str | None]:
    """("running" | "done" | "failed", reason) for the latest attempt of ``sj``."""
    res = _result(sj.job)
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


def _shown_log(sj: ShardJob) -> str:
    real = _real_log(sj)
    if real is not None and sj.log is not None:
        return f"{display_path(sj.log)} -> {real.name}"
    return display_path(sj.log) if sj.log is not None else "n/a"


def _link_log(sj: ShardJob, job: Any) -> None:
    """``logs/{split}/shard-{k}-of-{n}.log`` -> this attempt's submitit log (same folder)."""
    if sj.log is None:
        return
    target = Path(job.paths.stdout).name
    tmp = sj.log.with_name(f".{sj.log.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, sj.log)


def _progress(jobs: list[ShardJob], store: Any, shown: dict[str, str], log: Callable[[str], None]) -> None:
    for split in dict.fromkeys(sj.split for sj in jobs):
        mine = [sj for sj in jobs if sj.split == split]
        if all(sj.state == "finished" for sj in mine) and split not in shown:
            continue
        n = len(mine)
        done = sum(sj.state in ("done", "finished") for sj in mine)
        running = sum(sj.state == "running" for sj in mine)
        queued = sum(sj.state == "queued" for sj in mine)
        failed = sum(sj.state == "failed" for sj in mine)
        line = f"{split}: {done}/{n} shards done, {running} running" + (f", {queued} waiting" if queued else "") \
            + f", {failed} failed"
        if done == n and store.is_complete(split):
            line = f"{split}: complete ({n}/{n} shards) -> {display_path(store.out_dir / f'emb_{split}.npy')}"
        if shown.get(split) != line:
            shown[split] = line
            log(line)


def _save_jobs(logs: Path, kind: str, jobs: list[ShardJob]) -> None:
    """Record the tasks still running, so that a second launcher waits for them."""
    from .files import _atomic_write_json

    entries = [{"split": sj.split, "shard_index": sj.shard_index, "num_shards": sj.num_shards,
                "job_id": sj.job_id, "gpu": sj.gpu} for sj in jobs if sj.state == "running"]
    _atomic_write_json(logs / _JOBS_FILE, {"executor": kind, "jobs": entries})


def _attach(backend: _Backend, jobs: list[ShardJob], logs: Path, log: Callable[[str], None]) -> None:
    """Take over the tasks an earlier launcher submitted that are still queued or running."""
    path = logs / _JOBS_FILE
    if not path.exists():
        return
    with contextlib.suppress(ValueError, OSError):
        saved = json.loads(path.read_text())
        if saved.get("executor") != backend.kind:
            return
        states = backend.live_states([]) or {}
        by_key = {(sj.split, sj.shard_index, sj.num_shards): sj for sj in jobs if sj.state == "queued"}
        for e in saved.get("jobs", []):
            sj = by_key.get((e["split"], e["shard_index"], e["num_shards"]))
            if sj is None:
                continue
            probe = ShardJob(sj.split, sj.shard_index, sj.num_shards, job_id=str(e["job_id"]),
                             job=backend.attach(sj.split, str(e["job_id"])))
            if _result(probe.job) is None and backend.is_live(probe, states):
                sj.job, sj.job_id, sj.state, sj.attempts, sj.gpu = probe.job, probe.job_id, "running", 1, e.get("gpu")
                log(f"{sj.name}: job {sj.job_id}, submitted earlier, is still queued or running: waiting for it")


# ------------------------------------------------------------------------------ command line

def add_cli_arguments(parser: Any) -> None:
    """The options of ``python -m ucf_nb.report extract`` (extract_split's own go in ``-p``)."""
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"], metavar="SPLIT",
                        help="splits to extract (default: train val test)")
    parser.add_argument("--num-shards", type=int, required=True, help="shards (tasks) per split")
    parser.add_argument("--executor", choices=EXECUTORS, default="auto",
                        help="slurm (sbatch job arrays), local (processes here), auto: slurm where sbatch exists")
    parser.add_argument("--slurm", default=None, metavar="NAME=VALUE,...",
                        help="what each task asks SLURM for, e.g. partition=gpu,gpus_per_node=1,cpus_per_task=8,"
                             "timeout_min=120 (default: nothing)")
    parser.add_argument("--max-parallel", type=int, default=None,
                        help="tasks at once (SLURM array throttle; local processes, default 1 or one per GPU)")
    parser.add_argument("--gpus", default=None, metavar="0,1,...",
                        help="local executor: GPUs to share out, one task per GPU")
    parser.add_argument("--max-retries", type=int, default=2, help="resubmissions of a failed task (default 2)")
    parser.add_argument("--poll-s", type=float, default=10.0, help="seconds between two looks at the tasks")
    parser.add_argument("--no-wait", action="store_true", help="submit, print the job ids and return")
    parser.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                        help="a parameter of extract_split (repeatable), e.g. -p checkpoint=/models/timesformer")


def run_cli(args: Any, params: Mapping[str, Any]) -> int:
    """Run ``submit_extraction`` from parsed command-line ``args``; 0 when every split is done."""
    gpus = [int(g) for g in args.gpus.split(",") if g.strip()] if args.gpus else None
    try:
        jobs = submit_extraction(args.splits, args.num_shards, executor=args.executor, slurm=args.slurm,
                                 wait=not args.no_wait, max_retries=args.max_retries, max_parallel=args.max_parallel,
                                 gpus=gpus, poll_s=args.poll_s, **dict(params))
    except ExtractionFailedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.no_wait and all(sj.state in ("done", "finished") for sj in jobs):
        print(f"done: {', '.join(dict.fromkeys(sj.split for sj in jobs))}")
    return 0
