"""Load a frozen Hugging Face video encoder and pool its tokens into one vector per clip.

:func:`load_encoder` reads a checkpoint's config (a hub id, or a local folder saved with
``save_pretrained``; never remote code), picks the family's adapter by ``config.model_type``
(:mod:`ucf_nb.encoders.base`), lets it load the model, freezes it and puts it in eval mode
on the chosen device. :meth:`Encoder.embed` turns normalised clips ``pixel_values`` of shape
(B, T, 3, S, S) into embeddings (B, D). Nothing here knows a family by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..checks import UcfNbError, check_bool
from ..paths import display_path, resolve_path
from ..video.preprocess import Preprocessing, check_preprocessing_kind
from .base import EncoderAdapter, adapter_for

if TYPE_CHECKING:  # pragma: no cover
    from ..video.preprocess import Preprocessing

__all__ = ["Encoder", "load_encoder", "EncoderLoadError", "resolve_device", "resolve_precision"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ATTENTIONS = ("auto", "sdpa", "eager")

_WEIGHT_SUFFIXES = (".safetensors", ".bin")


class EncoderLoadError(UcfNbError, OSError):
    """A checkpoint could not be loaded (missing folder, or offline and not cached)."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> ``cuda`` when CUDA is available, else ``cpu``; anything else as given."""
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str) or not device.strip():
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got device={device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device={device!r} is not a torch device: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available here: use device='auto' or 'cpu'")
    return dev


def _cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX)."""
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(torch.cpu, probe, None)
        if fn is not None:
            with contextlib.suppress(RuntimeError):  # a build without the cpuinfo query
                if fn():
                    return True
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """Resolve ``precision`` for ``device``: returns ``"bf16"``, ``"fp16"`` or ``"fp32"``.

    ``"auto"`` is bf16 autocast where the device supports it (CUDA with bf16, or a CPU with
    AVX512-BF16/AMX), else fp32. ``"fp16"`` needs CUDA.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got precision={precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        if device.type == "cpu":
            return "bf16" if _cpu_has_bf16() else "fp32"
        return "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"precision='fp16' needs a CUDA device, got device={str(device)!r}: use 'bf16' or 'fp32'")
    return precision


def local_folder(checkpoint: str) -> Path | None:
    """The local folder ``checkpoint`` names, or None when it reads as a hub id."""
    candidate = resolve_path(checkpoint)
    if candidate.is_dir():
        return candidate
    looks_like_path = (
        os.path.isabs(checkpoint)
        or checkpoint.startswith((".", "~"))
        or checkpoint.count("/") > 1
        or os.sep != "/"
        and os.sep in checkpoint
    )
    if looks_like_path:
        raise EncoderLoadError(
            f"checkpoint folder {checkpoint!r} does not exist: pass a hub id such as "
            "'facebook/timesformer-base-finetuned-k400' or a folder written by save_pretrained"
        )
    return None


def _weights_sha256(folder: Path) -> str | None:
    """sha256 over the weight files of a local checkpoint folder (names and bytes, sorted)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))
    if not files:
        return None
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def check_pickled_weights(folder: Path) -> None:
    """Read every ``.bin`` weight file of a local checkpoint that has no safetensors file
    through torch's ``weights_only`` loader, which only rebuilds tensors and plain
    containers and refuses anything else: a pickle that would run code stops here with
    :class:`EncoderLoadError`, before ``from_pretrained`` sees the file. (``trust_remote_code``
    stays off as well: no Python file of a checkpoint is ever imported.)"""
    import pickle

    if any(p.name.endswith(".safetensors") for p in folder.iterdir()):
        return  # from_pretrained prefers safetensors: the .bin files are not read
    for path in sorted(folder.glob("*.bin")):
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except pickle.UnpicklingError as exc:
            raise EncoderLoadError(_refused_pickle_message(str(path), exc)) from None


def _refused_pickle_message(what: str, exc: BaseException) -> str:
    import re

    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    return (
        f"checkpoint {what!r} was refused: its .bin weights are a pickle that holds more than tensors "
        f"and would run code when loaded{' (it calls ' + found.group(1) + ')' if found else ''}; "
        "get the checkpoint as "
        "safetensors (model.safetensors), or re-save it with save_pretrained where you trust its source, "
        "never load it with weights_only=False"
    )


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and info/warning chatter, then restore them."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


@dataclass(eq=False)
class Encoder:
    """A frozen video transformer that maps clips to one vector each.

    Build it with :func:`load_encoder`. ``info`` records what was loaded and how it runs:
    checkpoint, revision, model_type, family, embedding_dim, device, precision, pooling,
    attention (``"sdpa"`` or ``"eager"``), compile (whether ``torch.compile`` runs it) and what
    the family's adapter adds. ``adapter`` is the family's
    :class:`~ucf_nb.encoders.base.EncoderAdapter` (found from ``info["model_type"]`` when
    not given). ``compiled`` is the ``torch.compile`` wrapper of ``model`` (None: eager).
    """

    model: torch.nn.Module
    device: torch.device
    precision: str
    pooling: str
    info: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where from_pretrained read it: local folder or hub id
    adapter: EncoderAdapter = None  # type: ignore[assignment]  # None: read from the model's config (__post_init__)
    compiled: torch.nn.Module | None = None
    _compiled_batch: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.adapter is None:
            self.adapter = adapter_for(str(self.info.get("model_type") or self.model.config.model_type))

    @property
    def embedding_dim(self) -> int:
        return int(self.info["embedding_dim"])

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Embed a batch of clips.

        Parameters
        ----------
        pixel_values : torch.Tensor, float, shape (B, T, 3, S, S)
            Normalised frames (see ``Preprocessing.normalize``); moved to the encoder's
            device when they are elsewhere.

        Returns
        -------
        torch.Tensor, float32, shape (B, D), on the CPU
            Pooled as the family's adapter says for ``self.pooling`` (TimeSformer
            ``"cls"``: the CLS token of ``last_hidden_state``; ``"mean"``: the mean of the
            patch tokens, the CLS token, when there is one, left out).
        """
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 5 or pixel_values.shape[2] != 3:
            shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values).__name__
            raise ValueError(f"pixel_values must be a float tensor of shape (B, T, 3, S, S), got {shape}")
        if not pixel_values.is_floating_point():
            raise ValueError(
                f"pixel_values must be floating point (normalised), got dtype {pixel_values.dtype}: "
                "use Preprocessing.normalize first"
            )
        x = pixel_values.to(self.device, non_blocking=True)
        return self._forward(x).float().cpu()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The adapter's pooled forward pass, through the compiled model when there is one.

        A compiled graph is specialised to one batch size: a smaller batch is padded with
        zero clips up to the largest batch seen (so the last, short batch of a run does not
        compile again) and the padding's rows are dropped. If the compiled model fails (a
        compiler error shows at the first call), the encoder warns once and runs eagerly
        from then on (``info["compile"]`` becomes False).
        """
        if self.compiled is None:
            with torch.inference_mode(), self._autocast():
                return self.adapter.embed(self.model, x, self.pooling)
        n = x.shape[0]
        if n < self._compiled_batch:  # padded outside inference mode, like the input, so the graph's guards hold
            x = torch.cat([x, x.new_zeros((self._compiled_batch - n, *x.shape[1:]))])
        try:
            with torch.inference_mode(), self._autocast():
                out = self.adapter.embed(self.compiled, x, self.pooling)[:n]
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any compiler failure: fall back, say so once
            warnings.warn(
                f"torch.compile failed for {self.info.get('checkpoint')!r} ({_root_cause(exc)}); "
                "running it without compile from now on (pass compile=False to skip the attempt)",
                RuntimeWarning,
                stacklevel=3,
            )
            self.compiled = None
            self.info["compile"] = False
            with torch.inference_mode(), self._autocast():
                return self.adapter.embed(self.model, x[:n], self.pooling)
        self._compiled_batch = max(self._compiled_batch, n)
        return out

    def preprocessing(self, kind: str = "checkpoint", img_size: int | None = 224) -> Preprocessing:
        """The preprocessing to feed this encoder.

        Parameters
        ----------
        kind : {"checkpoint", "seed"}
            ``"checkpoint"``: the checkpoint's own processor config (as the family's adapter
            reads it); ``"seed"``: the prototype's (squash-resize to ``img_size``, ImageNet
            mean/std).
        img_size : int or None
            Side of the square frames, in pixels. None: the size the checkpoint's processor
            config makes (``"checkpoint"``), or the family's default (``"seed"``).
        """
        check_preprocessing_kind(kind)
        if kind == "seed":
            return Preprocessing.seed(img_size=self.adapter.default_img_size if img_size is None else img_size)
        return _checkpoint_preprocessing(self.adapter, self.info["checkpoint"], img_size)


def _root_cause(exc: BaseException) -> str:
    """``Type: first line`` of the innermost cause of ``exc`` (compiler errors wrap the real one)."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "inner_exception", None) or exc.__cause__
        if inner is None:
            break
        exc = inner
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0].strip()[:300]}" if lines else type(exc).__name__


def _checkpoint_preprocessing(adapter: EncoderAdapter, checkpoint: str, img_size: int | None) -> Preprocessing:
    prep = adapter.preprocessing(checkpoint, img_size)
    if img_size is not None and prep.output_size != int(img_size):
        raise ValueError(
            f"preprocessing='checkpoint' makes {prep.output_size}x{prep.output_size} frames "
            f"(the preprocessor config of {checkpoint!r}) but img_size={img_size}: pass "
            f"img_size={prep.output_size}, or preprocessing='seed' to squash frames to img_size"
        )
    return prep


def load_encoder(
    checkpoint: str | os.PathLike,
    *,
    device: str = "auto",
    precision: str = "auto",
    pooling: str | None = None,
    attention: str = "auto",
    compile: bool = False,
    model_kwargs: Mapping[str, Any] | None = None,
) -> Encoder:
    """Load a frozen video encoder.

    Parameters
    ----------
    checkpoint : str or path-like
        A Hugging Face hub id (``"facebook/timesformer-base-finetuned-k400"``) or a local
        folder written by ``save_pretrained`` (relative paths resolve against the project
        root). Its config is read with ``AutoConfig.from_pretrained`` and the model loaded
        by the adapter of its ``model_type`` (:func:`ucf_nb.encoders.families`), safetensors
        preferred, never with remote code.
    device : str
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast dtype of the forward pass; ``"auto"`` picks bf16 where the device computes
        it natively, else fp32. The choice is in ``info["precision"]``.
    pooling : str, optional
        One of the family's poolings (TimeSformer: ``"cls"``, token 0 of
        ``last_hidden_state``, or ``"mean"``, the average of the patch tokens; VideoMAE,
        which has no CLS token: ``"mean"``). None: the family's default (its first).
    attention : {"auto", "sdpa", "eager"}
        The attention kernels. ``"sdpa"``: ``torch.nn.functional.scaled_dot_product_attention``
        (fused: flash / memory-efficient on CUDA); TimeSformer gets it from
        :mod:`ucf_nb.encoders.timesformer_sdpa` (transformers has none for it), the other
        families from transformers (``attn_implementation="sdpa"``). ``"eager"``:
        transformers' plain attention. ``"auto"``: ``"sdpa"`` where the family has it, else
        eager. The outcome is ``info["attention"]``.
    compile : bool
        Run the model through ``torch.compile`` (compiled at the first batch, for that batch
        size; a failure falls back to eager with one warning). Off by default.
    model_kwargs : mapping, optional
        Passed to the family's ``from_pretrained`` (an ``attn_implementation`` here overrides
        ``attention="auto"``).

    Returns
    -------
    Encoder

    Raises
    ------
    EncoderLoadError
        When the folder does not exist, or the hub id is neither reachable nor cached.
    ValueError
        For a bad device, precision, pooling or attention, or a model_type no adapter serves.
    """
    if pooling is not None and not isinstance(pooling, str):
        raise TypeError(f"pooling must be a pooling name such as 'cls' or 'mean', or None, got pooling={pooling!r}")
    if not isinstance(checkpoint, (str, os.PathLike)) or not str(checkpoint).strip():
        raise (ValueError if isinstance(checkpoint, (str, os.PathLike)) else TypeError)(
            f"checkpoint must be a hub id or a folder, got checkpoint={checkpoint!r}"
        )
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be 'auto', 'sdpa' or 'eager', got attention={attention!r}")
    compile = check_bool("compile", compile)
    checkpoint = os.fspath(checkpoint)
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    folder = local_folder(checkpoint)
    source = str(folder) if folder is not None else checkpoint

    config = read_config(checkpoint, source, folder)
    adapter = adapter_for(config.model_type)
    pooling = adapter.poolings[0] if pooling is None else pooling
    adapter.check_pooling(pooling, checkpoint)
    model = _load_with_attention(adapter, checkpoint, source, config, folder, dict(model_kwargs or {}), attention)

    model.requires_grad_(False)
    model.eval()
    model.to(dev)

    revision = _revision(model, folder)
    if folder is not None:
        checkpoint = display_path(folder)  # one spelling per folder, relative to the project root
    info = dict(
        checkpoint=checkpoint,
        revision=revision,
        model_type=config.model_type,
        family=adapter.family,
        embedding_dim=adapter.embedding_dim(model, pooling),
        device=str(dev),
        precision=prec,
        pooling=pooling,
        **adapter.info(model),
    )
    info.setdefault("attention", adapter.attention(model))
    info["compile"] = compile
    compiled = torch.compile(model, dynamic=False) if compile else None
    return Encoder(
        model=model,
        device=dev,
        precision=prec,
        pooling=pooling,
        info=info,
        source=source,
        adapter=adapter,
        compiled=compiled,
    )


def _load_with_attention(
    adapter: EncoderAdapter,
    checkpoint: str,
    source: str,
    config: Any,
    folder: Path | None,
    kwargs: dict[str, Any],
    attention: str,
) -> torch.nn.Module:
    """Load the model with the attention asked for (see :func:`load_encoder`)."""
    if "attn_implementation" in kwargs:
        if attention != "auto":
            raise ValueError(
                f"attention={attention!r} and model_kwargs['attn_implementation']="
                f"{kwargs['attn_implementation']!r} both choose the attention: pass only one"
            )
        return _load_model(adapter, checkpoint, source, config, folder, kwargs)
    wanted = "sdpa" if attention == "auto" else attention
    try:
        model = _load_model(adapter, checkpoint, source, config, folder, {**kwargs, **adapter.attention_kwargs(wanted)})
    except ValueError as exc:  # transformers: "... does not support ... scaled_dot_product_attention ..."
        if wanted != "sdpa" or "scaled_dot_product_attention" not in str(exc):
            raise
        if attention == "sdpa":
            raise ValueError(
                f"attention='sdpa' is not available for {adapter.family} ({checkpoint!r}) in this "
                f"transformers version: use attention='auto' or 'eager'"
            ) from exc
        wanted = "eager"
        model = _load_model(adapter, checkpoint, source, config, folder, {**kwargs, **adapter.attention_kwargs(wanted)})
    try:
        adapter.set_attention(model, wanted)
    except TypeError as exc:  # the family's SDPA needs something this transformers version lacks
        if attention == "sdpa":
            raise ValueError(f"attention='sdpa' is not available for {adapter.family} ({checkpoint!r}): {exc}") from exc
        warnings.warn(
            f"{adapter.family}: SDPA attention is not available ({exc}); running eager attention",
            RuntimeWarning,
            stacklevel=3,
        )
        adapter.set_attention(model, "eager")
    return model


def _load_error(checkpoint: str, folder: Path | None, exc: OSError) -> EncoderLoadError:
    """The message for a checkpoint that cannot be read: a broken folder, or an unreachable hub id."""
    if folder is not None:
        return EncoderLoadError(
            f"checkpoint folder {checkpoint!r} could not be loaded ({exc}): "
            "it must hold config.json and model weights written by save_pretrained"
        )

    return EncoderLoadError(
        f"checkpoint {checkpoint!r} could not be loaded: there is no folder "
        f"{display_path(resolve_path(checkpoint))}, and as a hub id it is unreachable (offline) and not in "
        "the local Hugging Face cache, so download it where there is internet and pass "
        "checkpoint='/path/to/local/folder' (a folder written by save_pretrained) or set HF_HOME to a "
        "cache that holds it"
    )


def read_config(checkpoint: str, source: str, folder: Path | None) -> Any:
    """``AutoConfig.from_pretrained(source)``, never with remote code."""
    from transformers import AutoConfig

    try:
        with _quiet_transformers():
            return AutoConfig.from_pretrained(source, trust_remote_code=False)
    except OSError as exc:
        raise _load_error(checkpoint, folder, exc) from exc


def _load_model(
    adapter: EncoderAdapter, checkpoint: str, source: str, config: Any, folder: Path | None, kwargs: dict[str, Any]
) -> torch.nn.Module:
    """The family's ``from_pretrained``, quietly; a missing or broken weight file is an EncoderLoadError."""
    import pickle

    if folder is not None:
        check_pickled_weights(folder)
    try:
        with _quiet_transformers():
            return adapter.load_model(source, config, **kwargs)
    except pickle.UnpicklingError as exc:  # a hub .bin that is more than tensors
        raise EncoderLoadError(_refused_pickle_message(checkpoint, exc)) from None
    except OSError as exc:
        raise _load_error(checkpoint, folder, exc) from exc


def _revision(model: torch.nn.Module, folder: Path | None) -> str | None:
    """The hub commit of the checkpoint, or ``sha256:`` of a local folder's weight files."""
    revision = getattr(model.config, "_commit_hash", None)
    if not revision and folder is not None:
        digest = _weights_sha256(folder)
        revision = f"sha256:{digest}" if digest else None
    return revision
