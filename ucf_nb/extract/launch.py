"""Extraction beyond one process: each (split, shard) a task of a SLURM job array, or a local process.

:func:`submit_extraction` runs :func:`ucf_nb.extract_split` for every shard of every split
through `submitit <https://github.com/facebookincubator/submitit>`_: on SLURM one job array per
split and round (``sbatch``), or with ``executor="local"`` as processes on this machine. It
waits, resubmits a task that failed, was cancelled, pre-empted or killed (the store resumes it
per batch), and reports a task that keeps failing with its log file and last error line while
the other shards and splits go on. The last shard of a split to finish assembles it, exactly
as when the shards are run by hand.

Task state comes from ``squeue`` and the files a task leaves, not from ``sacct`` (see
:mod:`ucf_nb.extract.tasks`, which submits the tasks and tells what became of them).

Files, under ``out_dir/logs/``: per split, submitit's job files and logs, and
``shard-{k}-of-{n}.log`` (a link to the log of the shard's latest attempt, stdout and stderr
together); ``jobs.json`` lists the tasks submitted and not yet finished, so that running the
same command again (after ``wait=False``, or after the launcher itself was stopped) waits for
them instead of submitting them twice.

Only this module and :mod:`ucf_nb.extract.tasks` use submitit: ``pip install -e .[cluster]``. A little over
500 lines: the launcher's job bookkeeping and its command line stay beside the loop they serve.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..checks import UcfNbError, check_float, check_int
from ..files import atomic_write_json
from ..paths import display_path
from ..store.arrays import EmbeddingStore
from .settings import ExtractSettings
from .split import extract_split
from .tasks import (  # noqa: F401 (last_error_line: re-exported)
    Backend,
    ShardJob,
    ShardTask,
    finished_before,
    last_error_line,
    link_log,
    rows_by_split,
    shown_log,
    task_outcome,
    task_result,
    unfinished_shards,
)

__all__ = ["submit_extraction", "ShardJob", "ExtractionFailedError", "parse_slurm_options"]

EXECUTORS = ("auto", "slurm", "local")
_JOBS_FILE = "jobs.json"


class ExtractionFailedError(UcfNbError, RuntimeError):
    """Some shard still failed after every retry; ``jobs`` holds every :class:`ShardJob`."""

    def __init__(self, message: str, jobs: list[ShardJob]) -> None:
        super().__init__(message)
        self.jobs = jobs


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
            raise ValueError(
                f"--slurm {text!r}: expected NAME=VALUE[,NAME=VALUE...], e.g. "
                f"partition=gpu,gpus_per_node=1 (bad item {item!r})"
            )
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
    return {
        n: p.default for n, p in inspect.signature(extract_split).parameters.items() if n != "settings"
    }  # one value for all the options: a task passes them one by one


def _check_params(extract_params: Mapping[str, Any]) -> dict[str, Any]:
    defaults = _extract_defaults()
    reserved = {"split", "shard_index", "num_shards"}
    bad = sorted(set(extract_params) & reserved)
    if bad:
        raise ValueError(
            f"submit_extraction: {bad[0]} is set by the launcher (one task per split and shard); "
            "pass splits and num_shards instead"
        )
    unknown = sorted(set(extract_params) - set(defaults))
    if unknown:
        raise ValueError(
            f"submit_extraction: {unknown[0]!r} is not a parameter of extract_split "
            f"(its parameters: {', '.join(sorted(set(defaults) - reserved))})"
        )
    if extract_params.get("resume", True) is not True:
        raise ValueError(
            "submit_extraction: resume=False is not supported (shards running at once would delete "
            "each other's work): delete the split's outputs in out_dir first, or use another out_dir"
        )
    params = {**{k: v for k, v in defaults.items() if k not in reserved}, **dict(extract_params)}
    ExtractSettings(**{k: params[k] for k in ExtractSettings.names()})  # every option checked before submitting
    return params


def _which_executor(executor: str) -> str:
    if executor not in EXECUTORS:
        raise ValueError(f"submit_extraction: executor must be one of {EXECUTORS}, got executor={executor!r}")
    if executor == "auto":
        return "slurm" if shutil.which("sbatch") else "local"
    if executor == "slurm" and not shutil.which("sbatch"):
        raise RuntimeError(
            "executor='slurm' but sbatch is not on the PATH: run this on a SLURM login node, or pass executor='local'"
        )
    return executor


# ---------------------------------------------------------------------------- the launcher


def submit_extraction(
    splits: str | Sequence[str],
    num_shards: int,
    *,
    executor: str = "auto",
    slurm: Mapping[str, Any] | str | None = None,
    wait: bool = True,
    max_retries: int = 2,
    max_parallel: int | None = None,
    gpus: Sequence[int] | None = None,
    poll_s: float = 10.0,
    log: Callable[[str], None] = print,
    **extract_params: Any,
) -> list[ShardJob]:
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
        (before this call) or ``"done"``. A shard is finished once every clip of it was
        attempted, failed clips included: nothing is submitted again for a video that cannot
        be read (the log line says how many clips failed); ``extract_split`` or notebook 02
        for that split retries them (``retry_failed``).

    Raises
    ------
    ExtractionFailedError
        When some shard failed ``max_retries + 1`` times (after every other task ended): the
        message names each with its log file and last error line; ``.jobs`` has them all.
    """
    splits, num_shards, max_retries, max_parallel, options, params, kind, gpus = _check_submission(
        splits,
        num_shards,
        executor=executor,
        slurm=slurm,
        max_retries=max_retries,
        max_parallel=max_parallel,
        gpus=gpus,
        extract_params=extract_params,
        log=log,
    )
    poll_s = check_float("poll_s", poll_s, 0, lo_open=True, who="submit_extraction: ")

    store = EmbeddingStore(params["out_dir"])
    jobs = _plan_jobs(store, splits, num_shards, params, log)
    if all(sj.state == "finished" for sj in jobs):
        log("every split is finished: nothing submitted")
        return jobs

    run = _Launcher(
        Backend(kind, store.out_dir / "logs", options, max_parallel, log),
        jobs,
        params,
        num_shards=num_shards,
        max_parallel=max_parallel,
        gpus=gpus,
        log=log,
    )
    run.start()
    if not wait:
        run.say_not_waiting()
        return jobs
    run.wait(store, max_retries=max_retries, poll_s=poll_s)
    _raise_failed(jobs, store, splits, max_retries)
    return jobs


def _check_submission(
    splits: str | Sequence[str],
    num_shards: int,
    *,
    executor: str,
    slurm: Mapping[str, Any] | str | None,
    max_retries: int,
    max_parallel: int | None,
    gpus: Sequence[int] | None,
    extract_params: Mapping[str, Any],
    log: Callable[[str], None],
) -> tuple[list[str], int, int, int | None, dict[str, Any], dict[str, Any], str, list[int] | None]:
    """submit_extraction's arguments checked: (splits, num_shards, max_retries, max_parallel,
    slurm options, extract_split parameters, executor kind, gpus)."""
    if isinstance(splits, str):
        splits = [splits]
    splits = list(splits)
    if not splits or not all(isinstance(s, str) and s for s in splits) or len(set(splits)) != len(splits):
        raise ValueError(
            f"submit_extraction: splits must be distinct split names such as ['train', 'val'], got splits={splits!r}"
        )
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
            raise ValueError(
                "submit_extraction: gpus= shares this machine's GPUs out among local tasks "
                "(executor='local'); on SLURM pass slurm={'gpus_per_node': 1}"
            )
    if kind == "local":
        ignored = sorted(set(options) - {"timeout_min"})
        if ignored:
            log(f"note: the local executor ignores --slurm {', '.join(ignored)}")
        max_parallel = max_parallel or (len(gpus) if gpus else 1)
    return splits, num_shards, max_retries, max_parallel, options, params, kind, gpus


def _plan_jobs(
    store: Any, splits: Sequence[str], num_shards: int, params: Mapping[str, Any], log: Callable[[str], None]
) -> list[ShardJob]:
    """One ShardJob per (split, shard): ``"finished"`` when nothing is left to do, else ``"queued"``."""
    rows = rows_by_split(params, splits)
    logs = store.out_dir / "logs"
    jobs: list[ShardJob] = []
    todo: dict[str, list[int]] = {}
    for split in splits:
        if finished_before(store, split, rows[split], params):
            log(
                f"{split}: already finished in {display_path(store.out_dir)}; nothing to submit"
                + _failed_note(store, split, params)
            )
            jobs += [ShardJob(split, k, num_shards, state="finished") for k in range(num_shards)]
            continue
        todo[split] = unfinished_shards(store, split, num_shards)
        jobs += [
            ShardJob(
                split,
                k,
                num_shards,
                state="finished" if k not in todo[split] else "queued",
                log=logs / split / f"shard-{k}-of-{num_shards}.log",
            )
            for k in range(num_shards)
        ]
    return jobs


def _failed_note(store: Any, split: str, params: Mapping[str, Any]) -> str:
    """How to retry the failed and short clips of a finished split (the launcher never does), or ""."""
    entry = store.manifest().get("splits", {}).get(split) or {}
    n, n_short = int(entry.get("n_failed") or 0), int(entry.get("n_short") or 0)
    if not n and not n_short:
        return ""
    what = " and ".join(
        ([f"{n} of its clips failed"] if n else [])
        + ([f"{n_short} are short (their video ended before the clip did)"] if n_short else [])
    )
    return (
        f" ({what}: after replacing their videos, ucf_nb.extract_split(split={split!r}, "
        f"out_dir={os.fspath(params['out_dir'])!r}, ...) or notebook 02 with the same parameters embeds "
        "only the clips of those videos)"
    )


class _Launcher:
    """The shard jobs of one submit_extraction call: submits them (local tasks one per free
    slot and GPU), polls them, resubmits the failed ones."""

    def __init__(
        self,
        backend: Backend,
        jobs: list[ShardJob],
        params: Mapping[str, Any],
        *,
        num_shards: int,
        max_parallel: int | None,
        gpus: Sequence[int] | None,
        log: Callable[[str], None],
    ) -> None:
        self.backend, self.kind, self.logs = backend, backend.kind, backend.logs
        self.jobs, self.params, self.num_shards, self.max_parallel, self.log = (
            jobs,
            params,
            num_shards,
            max_parallel,
            log,
        )
        self.free_gpus = list(gpus or [])

    def start(self) -> None:
        """Take over the tasks an earlier launcher left running, submit what there is room for."""
        self.logs.mkdir(parents=True, exist_ok=True)
        _attach(self.backend, self.jobs, self.logs, self.log)
        for sj in self.jobs:
            if sj.gpu is not None and sj.gpu in self.free_gpus:
                self.free_gpus.remove(sj.gpu)
        queued = [sj for sj in self.jobs if sj.state == "queued"]
        self.launch(queued[: self.slots()])

    def launch(self, batch: list[ShardJob]) -> None:
        by_split: dict[str, list[ShardJob]] = {}
        for sj in batch:
            by_split.setdefault(sj.split, []).append(sj)
        for split, group in by_split.items():
            if self.kind == "local":  # one process each, with its GPU
                for sj in group:
                    sj.gpu = self.free_gpus.pop(0) if self.free_gpus else None
                    self._submitted(self.backend.submit(split, [_task(sj, self.params)], sj.gpu), [sj])
            else:
                self._submitted(self.backend.submit(split, [_task(sj, self.params) for sj in group]), group)
        _save_jobs(self.logs, self.kind, self.jobs)

    def _submitted(self, sjobs: list[Any], group: list[ShardJob]) -> None:
        for job, sj in zip(sjobs, group):
            sj.job, sj.job_id, sj.state, sj._ended_polls = job, str(job.job_id), "running", 0
            sj.attempts += 1
            link_log(sj, job)
        ids = sorted({str(j.job_id).split("_")[0] for j in sjobs})
        what = (
            "SLURM job array"
            if self.kind == "slurm" and len(sjobs) > 1
            else ("SLURM job" if self.kind == "slurm" else "local process")
        )
        self.log(
            f"{group[0].split}: submitted shard{'s' if len(group) > 1 else ''} "
            f"{', '.join(str(sj.shard_index + 1) for sj in group)} of {self.num_shards} as {what} "
            f"{', '.join(ids)}"
        )

    def slots(self) -> int:
        if self.kind != "local":
            return 1 << 30
        assert self.max_parallel is not None  # checked for the local executor
        return self.max_parallel - sum(sj.state == "running" for sj in self.jobs)

    def say_not_waiting(self) -> None:
        running = [sj for sj in self.jobs if sj.state == "running"]
        ids = sorted({str(sj.job_id).split("_")[0] for sj in running})
        how = f"squeue -j {','.join(ids)}" if self.kind == "slurm" else f"ps -p {','.join(ids)}"
        self.log(
            f"not waiting: {len(running)} task(s), job id(s) {', '.join(ids)}; follow them with `{how}` and "
            f"the logs in {display_path(self.logs)}/; run the same command again to wait for them (nothing "
            "running is submitted twice, failed shards are resubmitted)"
        )

    def wait(self, store: Any, *, max_retries: int, poll_s: float) -> None:
        """Poll until every job is done or failed; resubmit failures up to ``max_retries`` times."""
        jobs = self.jobs
        shown: dict[str, str] = {}
        _progress(jobs, store, shown, self.log)
        while _requeue_unassembled(jobs, store, max_retries) or any(sj.state in ("running", "queued") for sj in jobs):
            if not any(sj.state == "running" for sj in jobs):
                self.launch([sj for sj in jobs if sj.state == "queued"][: self.slots()])
            time.sleep(poll_s)
            states = self.backend.live_states([sj for sj in jobs if sj.state == "running"])
            if states is None:
                continue
            for sj in jobs:
                if sj.state == "running":
                    self._settle(sj, store, states, max_retries)
            queued = [sj for sj in jobs if sj.state == "queued"]
            if queued:
                self.launch(queued[: self.slots()])
            else:
                _save_jobs(self.logs, self.kind, jobs)
            _progress(jobs, store, shown, self.log)

    def _settle(self, sj: ShardJob, store: Any, states: Mapping[str, str], max_retries: int) -> None:
        """A running job's latest outcome: still running, done, queued again, or failed."""
        outcome, reason = task_outcome(self.backend, store, sj, states)
        if outcome == "running":
            return
        if sj.gpu is not None:
            self.free_gpus.append(sj.gpu)
            sj.gpu = None
        if outcome == "done":
            sj.state, sj.error = "done", None
            return
        sj.error = reason
        if sj.attempts <= max_retries:
            self.log(f"{sj.name}: {reason}; resubmitting (attempt {sj.attempts + 1} of {max_retries + 1})")
            sj.state = "queued"
        else:
            sj.state = "failed"
            self.log(f"{sj.name} failed {sj.attempts} time(s), giving up: {reason} (log: {shown_log(sj)})")


def _raise_failed(jobs: list[ShardJob], store: Any, splits: Sequence[str], max_retries: int) -> None:
    """ExtractionFailedError naming every failed shard with its log and last error line."""
    failed = [sj for sj in jobs if sj.state == "failed"]
    if failed:
        lines = [f"{sj.name}: {sj.error} (log: {shown_log(sj)})" for sj in failed]
        done_splits = [s for s in splits if store.is_complete(s)]
        raise ExtractionFailedError(
            f"{len(failed)} shard(s) failed after {max_retries + 1} attempt(s) each:\n  "
            + "\n  ".join(lines)
            + f"\nfinished splits: {', '.join(done_splits) or 'none'}; the other shards' work is kept in "
            f"{display_path(store.out_dir)}: fix the cause and run the same command again",
            jobs,
        )


def _requeue_unassembled(jobs: list[ShardJob], store: Any, max_retries: int) -> bool:
    """Every shard of a split done but the split not assembled (its last task died while
    assembling): queue shard 0 again, whose run assembles it. True when something was queued."""
    queued = False
    for split in dict.fromkeys(sj.split for sj in jobs):
        mine = [sj for sj in jobs if sj.split == split]
        if (
            all(sj.state in ("done", "finished") for sj in mine)
            and any(sj.state == "done" for sj in mine)
            and not store.is_complete(split)
            and mine[0].attempts <= max_retries
        ):
            mine[0].state = "queued"
            queued = True
    return queued


def _task(sj: ShardJob, params: Mapping[str, Any]) -> ShardTask:
    return ShardTask(sj.split, sj.shard_index, sj.num_shards, dict(params))


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
        line = (
            f"{split}: {done}/{n} shards done, {running} running"
            + (f", {queued} waiting" if queued else "")
            + f", {failed} failed"
        )
        if done == n and store.is_complete(split):
            line = f"{split}: complete ({n}/{n} shards) -> {display_path(store.out_dir / f'emb_{split}.npy')}"
        if shown.get(split) != line:
            shown[split] = line
            log(line)


def _save_jobs(logs: Path, kind: str, jobs: list[ShardJob]) -> None:
    """Record the tasks still running, so that a second launcher waits for them."""
    entries = [
        {
            "split": sj.split,
            "shard_index": sj.shard_index,
            "num_shards": sj.num_shards,
            "job_id": sj.job_id,
            "gpu": sj.gpu,
        }
        for sj in jobs
        if sj.state == "running"
    ]
    atomic_write_json(logs / _JOBS_FILE, {"executor": kind, "jobs": entries})


def _attach(backend: Backend, jobs: list[ShardJob], logs: Path, log: Callable[[str], None]) -> None:
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
            probe = ShardJob(
                sj.split,
                sj.shard_index,
                sj.num_shards,
                job_id=str(e["job_id"]),
                job=backend.attach(sj.split, str(e["job_id"])),
            )
            if task_result(probe.job) is None and backend.is_live(probe, states):
                sj.job, sj.job_id, sj.state, sj.attempts, sj.gpu = probe.job, probe.job_id, "running", 1, e.get("gpu")
                log(f"{sj.name}: job {sj.job_id}, submitted earlier, is still queued or running: waiting for it")


# ------------------------------------------------------------------------------ command line


def add_cli_arguments(parser: Any) -> None:
    """The options of ``python -m ucf_nb.report extract`` (extract_split's own go in ``-p``)."""
    parser.add_argument(
        "--splits",
        nargs="+",
        default=["train", "val", "test"],
        metavar="SPLIT",
        help="splits to extract (default: train val test)",
    )
    parser.add_argument("--num-shards", type=int, required=True, help="shards (tasks) per split")
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="auto",
        help="slurm (sbatch job arrays), local (processes here), auto: slurm where sbatch exists",
    )
    parser.add_argument(
        "--slurm",
        default=None,
        metavar="NAME=VALUE,...",
        help="what each task asks SLURM for, e.g. partition=gpu,gpus_per_node=1,cpus_per_task=8,"
        "timeout_min=120 (default: nothing)",
    )
    parser.add_argument(
        "--max-parallel",
        type=int,
        default=None,
        help="tasks at once (SLURM array throttle; local processes, default 1 or one per GPU)",
    )
    parser.add_argument(
        "--gpus", default=None, metavar="0,1,...", help="local executor: GPUs to share out, one task per GPU"
    )
    parser.add_argument("--max-retries", type=int, default=2, help="resubmissions of a failed task (default 2)")
    parser.add_argument("--poll-s", type=float, default=10.0, help="seconds between two looks at the tasks")
    parser.add_argument("--no-wait", action="store_true", help="submit, print the job ids and return")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a parameter of extract_split (repeatable), e.g. -p checkpoint=/models/timesformer",
    )


def run_cli(args: Any, params: Mapping[str, Any]) -> int:
    """Run ``submit_extraction`` from parsed command-line ``args``; 0 when every split is done."""
    gpus = [int(g) for g in args.gpus.split(",") if g.strip()] if args.gpus else None
    try:
        jobs = submit_extraction(
            args.splits,
            args.num_shards,
            executor=args.executor,
            slurm=args.slurm,
            wait=not args.no_wait,
            max_retries=args.max_retries,
            max_parallel=args.max_parallel,
            gpus=gpus,
            poll_s=args.poll_s,
            **dict(params),
        )
    except ExtractionFailedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.no_wait and all(sj.state in ("done", "finished") for sj in jobs):
        print(f"done: {', '.join(dict.fromkeys(sj.split for sj in jobs))}")
    return 0
