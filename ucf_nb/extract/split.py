"""Index rows -> clip stream -> encoder -> store: embeddings of one split.

:func:`extract_split` is the whole of ``notebooks/02_extract.ipynb``: it reads one split of
the clip index, decodes each video once (:class:`ucf_nb.VideoClipStream`), embeds the clips
with a frozen encoder (:func:`ucf_nb.load_encoder`) and writes them, in index order, into
``out_dir`` (:class:`ucf_nb.EmbeddingStore`), resuming where an earlier run stopped. What
failed in a finished split is shown by :func:`ucf_nb.extraction_failures` (:mod:`ucf_nb.extract.failures`).

(A little over 500 lines: the "auto" batch-size and worker rules stay beside the run loop that
uses them, and importable from here.)
"""

from __future__ import annotations

import errno
import functools
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import check_int, settings_from_call
from ..files import file_sha256, read_json
from ..index.build import read_index
from ..index.locate import what_is
from ..index.validate import validate_index
from ..paths import demo_hint, display_path, resolve_path
from ..progress import progress_bar as tqdm
from ..store.arrays import EmbeddingStore, shard_bounds
from ..store.manifest import MANIFEST, package_versions
from ..store.shardlock import hold_shard_lock
from ..video import workers
from ..video.decode import VideoError
from ..video.workers import start_early
from .settings import ExtractSettings

__all__ = ["extract_split", "StoreWriteError"]
# auto_batch_size, auto_num_workers, pick_batch_size: the "auto" rules, importable from here
# (StoreWriteError lives in ucf_nb.files, public from here)

# the store's one seam for failed writes (ucf_nb.files.store_writes): public from here
from ..files import DISK_ERRNOS as _DISK_ERRNOS  # noqa: E402
from ..files import StoreWriteError  # noqa: E402


def extract_split(
    split: str = "train",
    index_path: str | os.PathLike = "processed/index_clips.csv",
    *,
    out_dir: str | os.PathLike = "processed",
    checkpoint: str | os.PathLike = "facebook/timesformer-base-finetuned-k400",
    T: int | None = None,
    img_size: int | None = None,
    batch_size: int | str = "auto",
    num_workers: int | str = "auto",
    device: str = "auto",
    precision: str = "auto",
    pooling: str | None = None,
    preprocessing: str = "checkpoint",
    video_root: str | os.PathLike | None = None,
    resume: bool = True,
    limit: int | None = None,
    shard_index: int = 0,
    num_shards: int = 1,
    attention: str = "auto",
    compile: bool = False,
    on_error: str = "skip",
    retry_failed: bool = True,
    stall_timeout: float = 300.0,
    progress: bool = True,
    views: str = "center",
    settings: ExtractSettings | None = None,
) -> dict[str, Any]:
    """Embed every clip of one split of the index and store the result in ``out_dir``.

    The options (every parameter but ``split``, ``index_path``, ``out_dir``, ``shard_index``
    and ``num_shards``) are checked once, into one :class:`ucf_nb.ExtractSettings`; pass
    ``settings=ExtractSettings(...)`` instead of the keywords to reuse a set of options.

    Parameters
    ----------
    split : str
        Which split of the index (``"train"``, ``"val"`` or ``"test"``).
    index_path : str or path-like
        The clip index CSV (relative paths resolve against the project root).
    out_dir : str or path-like
        Where ``emb_{split}.npy`` and friends and ``manifest.json`` go.
    checkpoint : str or path-like
        Hugging Face hub id, or a local folder written by ``save_pretrained``.
    T : int, optional
        Frames sampled per clip, uniformly over ``[start_frame, end_frame)``. None: the
        encoder's default (``EncoderAdapter.clip_length``: the frames a fixed-T family's
        checkpoint was built for, e.g. 16 for VideoMAE, 32 for ViViT; else the family's
        ``default_T``).
    img_size : int, optional
        Side of the square frames the encoder sees, in pixels. None: the size the
        checkpoint's processor config makes (``preprocessing="checkpoint"``), or the family's
        default ``EncoderAdapter.default_img_size`` (``"seed"``).
    batch_size : int or "auto"
        Clips per forward pass. ``"auto"``: 16 on the CPU; on CUDA the largest power of two
        up to 64 whose activations fit in half the free GPU memory (measured with a forward
        pass of 4 blank clips).
    num_workers : int or "auto"
        DataLoader worker processes decoding videos (0: decode in this process). ``"auto"``:
        on CUDA one per CPU core this process may use, less one for this process, at most
        16; on the CPU 1 (the model needs the other cores).
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast dtype; ``"auto"``: bf16 where the device computes it natively, else fp32.
        Embeddings are stored as float16 whatever the precision.
    pooling : str, optional
        One of the family's poolings: CLS token (TimeSformer) or mean of the patch tokens
        (any model, VideoMAE included). None: the family's default.
    preprocessing : {"checkpoint", "seed"}
        The checkpoint's own preprocessor config, or the prototype's (squash, ImageNet stats).
    video_root : str or path-like, optional
        Dataset root to read the videos from instead of the one recorded in the index.
    resume : bool
        True: continue an interrupted run (the clips still pending, and the failed ones when
        ``retry_failed``); the embedded clips of a finished split are never recomputed, and
        outputs made with other settings stop the run with a message naming the difference.
        False: start this split (this shard) over; outputs made with other settings are
        deleted.
    limit : int, optional
        Use only the first ``limit`` clips of the split (a quick look; recorded in the
        manifest).
    shard_index, num_shards : int
        This process embeds shard ``shard_index`` of ``num_shards`` blocks of whole videos.
        Shards may run at once on machines sharing ``out_dir``; the split is finished, and
        its arrays assembled, when all of them are. Only one process at a time works on a
        shard: a second one stops at once with :class:`ucf_nb.ShardBusyError`.
    attention : {"auto", "sdpa", "eager"}
        Attention kernels of the encoder (see :func:`ucf_nb.load_encoder`); ``"auto"`` is
        ``F.scaled_dot_product_attention`` where the family has it. Recorded in the manifest
        (per shard and per split); not part of the settings a resumed run must match, since
        it changes embeddings by rounding only.
    compile : bool
        Run the encoder through ``torch.compile`` (compiled before the loop, for
        ``batch_size``; a failure falls back to eager with one warning).
    on_error : {"skip", "raise"}
        A video that exists but cannot be decoded: ``"skip"`` records its clips as failed
        (NaN rows, listed in the manifest, see :func:`ucf_nb.extraction_failures`) and goes
        on; ``"raise"`` stops at the first one with :class:`ucf_nb.VideoError` (what was
        embedded before is kept; fix the file and run again).
    retry_failed : bool
        With ``resume=True``, decode and embed again this shard's failed clips (videos that
        could not be read by an earlier run) and short clips (the video ended before the
        clip did: its last real frame was repeated; the manifest's ``short_clips``), with
        every other clip of their videos (such a file is not the one the index was made
        from), finished split or not: fix or replace the file and run the same command
        again. Clips that now work get their embedding and status "done" (and leave
        ``short_clips`` once whole), the others stay failed or short with the new reason;
        no other video's row is touched (a finished split's arrays are replaced atomically,
        the other rows byte for byte), so the split ends as a clean run with the fixed file
        would. A split counts as finished once every clip was attempted, failed ones
        included, so :func:`ucf_nb.submit_extraction` submits nothing for it. False: failed
        and short clips are left as they are.
    stall_timeout : float
        Seconds without a batch from the DataLoader workers after which the run stops with
        :class:`ucf_nb.video.workers.ExtractStalledError`, naming the video each worker was
        decoding (with ``num_workers >= 1``; the run stays resumable).
    progress : bool
        Show a tqdm progress bar (clips and clips/s).
    views : {"center", "ten_crop"}
        ``"center"``: one view per clip, the preprocessing's own; ``emb_{split}.npy`` is
        (N, D). ``"ten_crop"``: ten views of every clip, as the field's features are made
        (:meth:`ucf_nb.Preprocessing.with_views`): the shorter side resized to the
        checkpoint's crop size x 256 / 224, then the four corner crops and the centre crop,
        then the same five crops of the frame flipped horizontally (torchvision's TenCrop
        order); each frame is
        decoded once and cropped ten times, and the clip's ten views are embedded together
        (ten forward passes' worth of compute). ``emb_{split}.npy`` is (N, 10, D). Part of the
        settings a resumed run must match (a centre run's fingerprint is the one it had
        before views existed). ``batch_size`` counts clips: a batch of B clips is B x 10
        views on the model.
    settings : ExtractSettings, optional
        All the options above as one value (then leave their keywords at their defaults).

    Returns
    -------
    dict
        ``split``, ``complete`` (all shards done), ``n_clips`` (in the split), ``n_shard``
        (clips of this shard), ``n_embedded`` (clips embedded by this call, retried ones
        included; 0 when there was nothing left to do), ``n_failed`` (unreadable clips met by
        this call), ``seconds``,
        ``clips_per_s``, ``device``, ``precision``, ``attention``, ``compile``,
        ``batch_size``, ``num_workers``, ``shard_index``, ``num_shards`` and
        ``manifest`` (path of the manifest, relative to the project root when inside it).

    Raises
    ------
    ucf_nb.IndexValidationError
        The split's rows fail the cheap checks of :func:`ucf_nb.validate_index` (before
        any work).
    ucf_nb.ShardBusyError
        Another live process works on this shard (before the model loads).
    PermissionError
        ``out_dir`` is not writable (before the model loads).
    StoreWriteError
        A write into ``out_dir`` failed mid-run (disk full...); the same command resumes.
    """
    s = settings_from_call(ExtractSettings, locals(), settings, who="extract_split")  # first: reads the keywords
    job = _Job.checked(split, out_dir, shard_index, num_shards)
    index_file = resolve_path(index_path)
    df, rows = split_rows(index_file, split, video_root=s.video_root, limit=s.limit)
    check_split_rows(df.loc[rows], split)

    with hold_shard_lock(out_dir, split, shard_index, num_shards):  # ShardBusyError before the model loads
        return _extract_locked(df, rows, index_file, job, s)


@dataclass(frozen=True)
class _Job:
    """Which part of which split a call extracts, and where to: the call's own arguments."""

    split: str
    out_dir: Any
    shard_index: int
    num_shards: int

    @classmethod
    def checked(cls, split: Any, out_dir: Any, shard_index: Any, num_shards: Any) -> _Job:
        if not isinstance(split, str) or not split:
            raise (TypeError if not isinstance(split, str) else ValueError)(
                f"extract_split: split must be a split name such as 'train', got split={split!r}"
            )
        num_shards = check_int("num_shards", num_shards, 1, who="extract_split: ")
        shard_index = check_int("shard_index", shard_index, 0, who="extract_split: ")
        if shard_index >= num_shards:
            raise ValueError(f"extract_split: shard_index={shard_index} must be smaller than num_shards={num_shards}")
        return cls(split, out_dir, int(shard_index), int(num_shards))

    @property
    def desc(self) -> str:
        """The progress bar's label."""
        return self.split + (f" {self.shard_index + 1}/{self.num_shards}" if self.num_shards > 1 else "")


def check_split_rows(rows: Any, split: str) -> None:
    """The cheap checks of :func:`ucf_nb.validate_index` (types, empty cells, clip ranges
    within ``n_frames``, ``end - start == clip_len``, the clip grid, labels, duplicates) on
    one split's rows, before any work: raises :class:`ucf_nb.IndexValidationError` with the
    message notebook 01 gives. File existence is checked later, on the pending rows only."""
    validate_index(rows, strict=True, check_files=False)


def _resumed_precision(out_dir: Any, precision: str, device: str, *, resume: bool) -> str:
    """``precision="auto"`` resumes with the precision an earlier run in ``out_dir`` recorded.

    A CPU login node resolves ``"auto"`` to fp32 where the GPU nodes chose bf16: without this,
    re-running notebook 02 there on finished splits (after a cluster extraction) would stop on
    the difference, and a partial split would refuse to go on. The recorded precision is kept
    whenever this device can run it; an explicit precision is returned unchanged.
    """
    if precision != "auto" or not resume:
        return precision
    from ..encoders import resolve_device, resolve_precision  # torch-free import of ucf_nb.extract

    path = resolve_path(out_dir) / MANIFEST
    if not path.is_file():
        return precision
    recorded = read_json(path).get("precision")
    if recorded not in ("fp32", "bf16", "fp16"):
        return precision
    try:
        resolve_precision(recorded, resolve_device(device))
    except ValueError:  # fp16 recorded on CUDA, resumed on a CPU: the mismatch message explains
        return precision
    return recorded


def _extract_locked(df: Any, rows: np.ndarray, index_file: Any, job: _Job, s: ExtractSettings) -> dict[str, Any]:
    """extract_split once the rows are checked and this process holds the shard's lock."""
    from ..encoders import load_encoder  # torch-free import of ucf_nb.extract

    split, shard_index, num_shards = job.split, job.shard_index, job.num_shards
    if s.num_workers == "auto" or (isinstance(s.num_workers, int) and s.num_workers > 0):
        start_early()  # the fork server imports torch while the model loads
    precision = _resumed_precision(job.out_dir, s.precision, s.device, resume=s.resume)
    encoder = load_encoder(
        s.checkpoint, device=s.device, precision=precision, pooling=s.pooling, attention=s.attention, compile=s.compile
    )
    T = encoder.adapter.clip_length(encoder.model.config) if s.T is None else s.T
    prep = encoder.preprocessing(s.preprocessing, s.img_size)  # None: the processor's (or the family's) size
    img_size = prep.output_size if s.img_size is None else s.img_size
    prep = prep.with_views(s.views)  # ten-crop: the same crop size, the field's resize and ten views
    info = encoder.info
    settings = _settings(info, prep, index_file, T=int(T), img_size=int(img_size))
    width = int(info["embedding_dim"]) * prep.n_views  # values per clip in the shard files
    store = EmbeddingStore(job.out_dir)
    store.check_settings(settings, resume=s.resume)
    result = dict(
        split=split,
        complete=False,
        n_clips=int(len(rows)),
        n_shard=0,
        n_embedded=0,
        n_failed=0,
        seconds=0.0,
        clips_per_s=None,
        device=info["device"],
        precision=info["precision"],
        attention=info["attention"],
        compile=info["compile"],
        batch_size=s.batch_size,
        num_workers=s.num_workers,
        shard_index=int(shard_index),
        num_shards=int(num_shards),
        manifest=display_path(store.manifest_path),
    )
    videos = df.loc[rows, "path"].to_numpy()
    if s.resume and store.is_complete(split, settings, rows):
        bounds = shard_bounds(videos, num_shards)
        result.update(complete=True, n_shard=int(bounds[shard_index + 1] - bounds[shard_index]))
        retry = (
            store.open_retry(split, rows, videos, width, shard_index=shard_index, num_shards=num_shards)
            if s.retry_failed
            else None
        )
        if retry is not None:  # the failed clips of a finished split, tried again
            _embed_pending(encoder, prep, df, retry, store, result, T=int(T), job=job, s=s)
            store.apply_retry(split, retry, int(T))
        return result

    y = df.loc[rows, "y"].to_numpy()
    writer = store.open_shard(
        split, rows, videos, width, shard_index=shard_index, num_shards=num_shards, resume=s.resume, limit=s.limit
    )
    if s.retry_failed:  # failed and short clips (and the other clips of their videos) are embedded again
        writer.requeue_failed(T=int(T), videos=df.loc[writer.rows, "path"].to_numpy())
    result["n_shard"] = int(len(writer.rows))
    _embed_pending(encoder, prep, df, writer, store, result, T=int(T), job=job, s=s)
    result["complete"] = store.finalize(split, settings, rows, y, int(T))
    return result


def _embed_pending(
    encoder: Any,
    prep: Any,
    df: Any,
    writer: Any,
    store: Any,
    result: dict[str, Any],
    *,
    T: int,
    job: _Job,
    s: ExtractSettings,
) -> None:
    """Embed the pending rows of ``writer`` (none: nothing to do) and record how in ``result``:
    the checks before the loop, the "auto" batch size and workers, the loop itself."""
    pending = writer.pending_rows()
    if not len(pending):
        return
    _check_videos_exist(df.loc[pending, "path"], job.split)
    compiled, encoder.compiled = encoder.compiled, None  # check eagerly: compiling for 1 clip would be waste
    try:
        _check_encoder_input(encoder, prep, T)
    finally:
        encoder.compiled = compiled
    batch_size, num_workers = result["batch_size"], result["num_workers"]
    if batch_size == "auto":
        batch_size = auto_batch_size(encoder, prep, T)
    if num_workers == "auto":
        num_workers = auto_num_workers(encoder.device)
    if encoder.compiled is not None:  # compile now, for this batch size, not inside the timed loop
        _check_encoder_input(encoder, prep, T, batch=min(batch_size, len(pending)) * prep.n_views)
    result.update(batch_size=batch_size, num_workers=num_workers)
    try:
        n_done, n_failed, seconds = _run(
            encoder, prep, df, pending, writer, T=T, batch_size=batch_size, num_workers=num_workers, job=job, s=s
        )
    except OSError as exc:
        if exc.errno not in _DISK_ERRNOS or isinstance(exc, FileNotFoundError):
            raise
        raise _write_error(exc, store.out_dir, writer) from exc
    result.update(
        n_embedded=n_done,
        n_failed=n_failed,
        seconds=round(seconds, 3),
        compile=encoder.info["compile"],
        clips_per_s=round(n_done / seconds, 3) if seconds > 0 else None,
    )


def split_rows(index_file: Any, split: str, *, video_root: Any, limit: int | None) -> tuple[Any, np.ndarray]:
    """(the index, the index row numbers of ``split``, the first ``limit`` of them)."""
    if not index_file.is_file():
        raise FileNotFoundError(
            f"{display_path(index_file)} not found: run notebooks/00_build_index.ipynb "
            f"first{demo_hint(index_file, 'index_path')}"
        )
    df = read_index(index_file, video_root=video_root)
    rows = np.flatnonzero((df["split"] == split).to_numpy()).astype(np.int64)
    if len(rows) == 0:
        raise ValueError(
            f"split {split!r} has no clips in {display_path(index_file)} "
            f"(its splits: {sorted(df['split'].unique().tolist())})"
        )
    if limit is not None:
        rows = rows[:limit]
    return df, df.index.to_numpy()[rows].astype(np.int64)


def _settings(info: dict[str, Any], prep: Any, index_file: Any, *, T: int, img_size: int) -> dict[str, Any]:
    """What the outputs are made with: the store's fingerprint and the manifest's provenance."""
    out = dict(
        index_sha256=file_sha256(index_file),
        checkpoint=info["checkpoint"],
        revision=info["revision"],
        model_type=info["model_type"],
        embedding_dim=info["embedding_dim"],
        pooling=info["pooling"],
        precision=info["precision"],
        T=T,
        img_size=img_size,
        preprocessing=prep.to_dict(),
        index_path=display_path(index_file),
        versions=package_versions(),
    )
    if prep.views != "center":  # a centre run keeps the fingerprint it had before views existed
        out["views"] = prep.views
    return out


def _n_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _check_videos_exist(paths: Any, split: str) -> None:
    """Stop before any work when videos are not on disk (a wrong ``video_root``, an unmounted
    share): only files that exist but cannot be decoded become failed (NaN) rows."""
    videos = paths.drop_duplicates()
    missing = [p for p in videos if not resolve_path(p).is_file()]
    odd = [(p, what_is(resolve_path(p))) for p in missing]
    odd = [(p, what) for p, what in odd if what is not None]
    if odd:  # there, but not a video file: opening a FIFO would wait for ever
        shown = "; ".join(f"{display_path(resolve_path(p))} is {what}" for p, what in odd[:3])
        raise ValueError(
            f"{len(odd)} of the {len(videos)} videos of split {split!r} are not video files ({shown}): "
            "put the video files there, or rebuild the index with notebooks/00_build_index.ipynb"
        )
    if missing:
        n_clips = int(paths.isin(missing).sum())
        examples = ", ".join(display_path(resolve_path(p)) for p in missing[:3])
        raise FileNotFoundError(
            f"{len(missing)} of the {len(videos)} videos of split {split!r} ({n_clips} clips) are not on disk, "
            f"e.g. {examples}: pass video_root='/path/to/UCF_Crime' if the dataset lives elsewhere on this "
            "machine, or rebuild the index with notebooks/00_build_index.ipynb"
        )


def auto_num_workers(device: Any) -> int:
    """DataLoader decode workers for ``device`` on this machine (see ``extract_split``)."""
    n = _n_cpus()
    if getattr(device, "type", str(device)) == "cuda":
        return max(1, min(n - 1, 16))
    return 1 if n >= 2 else 0


def pick_batch_size(per_clip_bytes: float, free_bytes: float, *, cap: int = 64, fraction: float = 0.5) -> int:
    """The largest power of two <= ``cap`` whose clips (``per_clip_bytes`` each) fit in
    ``fraction`` of ``free_bytes``; at least 1."""
    if per_clip_bytes <= 0:
        return cap
    fit = int(fraction * free_bytes // per_clip_bytes)
    b = 1
    while b * 2 <= min(cap, fit):
        b *= 2
    return b


def auto_batch_size(encoder: Any, prep: Any, T: int, *, probe: int = 4, cap: int = 64) -> int:
    """``batch_size="auto"``: 16 on the CPU; on CUDA measured, see :func:`pick_batch_size`.

    The memory of one clip is the peak CUDA memory of an eager forward pass of ``probe``
    blank clips (normalisation included) over what was allocated before, divided by ``probe``.
    Clips of several views (ten-crop) cost that many clips each: 16 // V clips on the CPU
    (at least 1), and V x the memory on CUDA (the cap of 64 counts views).
    """
    import torch

    v = getattr(prep, "n_views", 1)
    if encoder.device.type != "cuda":
        return max(1, 16 // v)
    dev = encoder.device
    s = prep.output_size
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    before = torch.cuda.memory_allocated(dev)
    x = prep.normalize(torch.zeros((probe, T, s, s, 3), dtype=torch.uint8, device=dev))
    with torch.inference_mode(), encoder._autocast():
        encoder.adapter.embed(encoder.model, x, encoder.pooling)
    torch.cuda.synchronize(dev)
    per_clip = (torch.cuda.max_memory_allocated(dev) - before) / probe
    del x
    free, _total = torch.cuda.mem_get_info(dev)
    return max(1, pick_batch_size(per_clip * v, free, cap=max(1, cap // v)))


def _check_encoder_input(encoder: Any, prep: Any, T: int, batch: int = 1) -> None:
    """One forward pass on ``batch`` blank clips, so that a T/img_size the model cannot take
    fails here with a clear message rather than in the middle of the loop (and a compiled
    model compiles here, for the loop's batch size)."""
    import torch

    s = prep.output_size
    blank = torch.zeros((batch, T, s, s, 3), dtype=torch.uint8)
    try:
        encoder.embed(prep.normalize(blank.to(encoder.device)))
    except (RuntimeError, ValueError, IndexError) as exc:
        if "out of memory" in str(exc).lower():  # not a shape problem: say it as it is
            raise
        raise ValueError(
            f"checkpoint {encoder.info['checkpoint']!r} failed on a blank clip of T={T} frames of "
            f"{s}x{s} pixels ({type(exc).__name__}: {exc}); if it was trained with another "
            "frame count or image size, pass those as T and img_size"
        ) from exc


def _run(
    encoder: Any,
    prep: Any,
    df: Any,
    pending: np.ndarray,
    writer: Any,
    *,
    T: int,
    batch_size: int,
    num_workers: int,
    job: _Job,
    s: ExtractSettings,
) -> tuple[int, int, float]:
    """The loop: decode, normalise on the device, embed, write (``batch_size`` and
    ``num_workers`` resolved from ``s``). Returns (done, failed, seconds)."""
    import tempfile

    import torch
    from torch.utils.data import DataLoader

    from ..video.dataset import VideoClipStream, collate_clips  # torch-free import of ucf_nb.extract

    # the clock starts before the stream's seek-exactness scan (its own bar): it is part of the run
    t0 = last_save = time.perf_counter()
    notes = tempfile.TemporaryDirectory(prefix="ucf_nb-workers-") if num_workers > 0 else None
    stream = VideoClipStream(
        df.loc[pending],
        T=T,
        preprocessing=prep,
        on_error="skip",
        progress_dir=notes.name if notes else None,
        progress=s.progress,
        progress_desc=job.desc,
    )
    # enough batches in flight that the accelerator never waits on decoding: at least 8 in all
    prefetch: dict[str, Any] = {"prefetch_factor": max(2, -(-8 // num_workers))} if num_workers > 0 else {}
    loader = DataLoader(
        stream,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate_clips,
        pin_memory=encoder.device.type == "cuda",
        persistent_workers=False,
        **prefetch,
        # workers start from a fresh interpreter (forkserver): a parent that used OpenCV
        # cannot hang them
        multiprocessing_context=workers.worker_context() if num_workers > 0 else None,
        # workers exit when this process dies, even by kill -9 (no orphans)
        worker_init_fn=functools.partial(workers.worker_init, os.getpid()) if num_workers > 0 else None,
        timeout=s.stall_timeout if num_workers > 0 else 0,
    )
    runtime = dict(
        attention=encoder.info.get("attention"),
        compile=encoder.info.get("compile"),
        batch_size=int(batch_size),
        num_workers=int(num_workers),
    )
    n_done = n_failed = 0
    unsaved_n = 0
    bar = tqdm(total=len(pending), unit="clips", desc=job.desc, disable=not s.progress, smoothing=0.1)
    threads = torch.get_num_threads()
    batches = None
    try:
        if encoder.device.type == "cpu" and num_workers > 0:
            # decode workers and the model's intra-op threads must not fight over the cores:
            # oversubscribed OpenMP threads wait on each other (2x slower on a 2-core machine)
            torch.set_num_threads(max(1, min(threads, _n_cpus() - num_workers)))
        with workers.main_not_reimported():  # workers start here; they need nothing of the user's script
            batches = iter(loader)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except RuntimeError as exc:
                if notes is None or "timed out" not in str(exc):
                    raise
                raise workers.ExtractStalledError(
                    workers.stalled_message(
                        notes.name,
                        num_workers=num_workers,
                        stall_timeout=s.stall_timeout,
                        split=job.split,
                        n_done=n_done + n_failed,
                        n_pending=len(pending),
                    )
                ) from None
            rows = batch["row"].numpy()
            n_real = batch["n_real"].numpy()
            ok = n_real > 0
            if s.on_error == "raise" and not ok.all():
                _raise_first_failure(df, rows, ok, batch["error"])
            emb = None
            if ok.any():
                frames = batch["frames"][torch.from_numpy(ok)] if not ok.all() else batch["frames"]
                frames = frames.to(encoder.device, non_blocking=True)
                if prep.n_views == 1:
                    emb = encoder.embed(prep.normalize(frames)).numpy()
                else:  # (B, T, 6, S, S, 3) crops -> the B x V views as one batch -> (B, V x D), views in order
                    views = prep.expand_views(frames)
                    emb = encoder.embed(prep.normalize(views.reshape(-1, *views.shape[2:]))).numpy()
                    emb = emb.reshape(len(frames), -1)
            writer.write(rows, emb, n_real, batch["error"])
            n_done += int(ok.sum())
            n_failed += int((~ok).sum())
            bar.update(len(rows))
            now = time.perf_counter()
            if now - last_save > 5.0:  # keep the running time on disk, so a killed run still counts
                writer.add_time(now - last_save, n_done - unsaved_n, device=str(encoder.device), runtime=runtime)
                unsaved_n, last_save = n_done, now
    finally:
        torch.set_num_threads(threads)
        bar.close()
        stop = getattr(batches, "_shutdown_workers", None)
        if stop is not None:  # now, not when the traceback lets go: a stalled worker is stopped here
            stop()
        if notes is not None:
            notes.cleanup()
        writer.commit()
        now = time.perf_counter()
        runtime["compile"] = encoder.info.get("compile")  # False when compiling failed and it fell back
        writer.add_time(now - last_save, n_done - unsaved_n, device=str(encoder.device), runtime=runtime)
    return n_done, n_failed, time.perf_counter() - t0


def _raise_first_failure(df: Any, rows: np.ndarray, ok: np.ndarray, errors: Any) -> None:
    """on_error='raise': stop at the first clip that has nothing real to embed (its batch
    is not written; what was committed before stays, and a rerun starts from there)."""
    i = int(np.flatnonzero(~ok)[0])
    path = display_path(resolve_path(df.loc[int(rows[i]), "path"]))
    reason = str(errors[i] or "no frame decodes")
    prefix = "cannot read video "
    if reason.startswith(prefix) and ": " in reason:
        reason = reason.split(": ", 1)[1]
    raise VideoError(
        path,
        f"{reason} [index row {int(rows[i])}; extraction stopped because on_error='raise']",
        "replace or re-encode the file and run the same command again to resume, or pass "
        "on_error='skip' to record its clips as failed (NaN rows) and go on",
    )


def _write_error(exc: OSError, out_dir: Any, writer: Any) -> StoreWriteError:
    """One sentence for a write into out_dir that failed mid-run: where, why, what to do."""
    name = errno.errorcode.get(exc.errno or 0, "")
    kept = int((writer.status != 0).sum()) if len(writer.rows) else 0
    return StoreWriteError(
        exc.errno,
        f"writing embeddings into out_dir {display_path(out_dir)} failed "
        f"({exc.strerror or exc}{', ' + name if name else ''}): make room there "
        f"(or fix the disk or quota) and run the same command again; the {kept} "
        "clips of this shard already on disk are kept and only the rest are embedded",
    )
