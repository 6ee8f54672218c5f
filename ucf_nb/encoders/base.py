"""The encoder seam: one small, registered adapter per model family.

An :class:`EncoderAdapter` says, for one family of Hugging Face video models, how to load
it (its ``from_pretrained`` class, never remote code), how to call it and which tokens to
pool into one vector per clip, its default clip length and image size, and where its
preprocessing comes from. :func:`ucf_nb.load_encoder` reads a checkpoint's config, picks
the adapter by ``config.model_type`` (:func:`adapter_for`) and lets it do the rest, so a
new family is one module with one decorated class (:func:`register_adapter`), imported by
``ucf_nb/encoders/__init__.py``. The adapter also describes the family's tiny random model
(:meth:`EncoderAdapter.tiny_config`), which :func:`ucf_nb.encoders.tiny.make_tiny_encoder`
saves for the tests and the demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..video.preprocess import Preprocessing

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["EncoderAdapter", "TinyModel", "register_adapter", "adapter_for", "adapters", "families"]

# config.model_type -> adapter instance; filled by @register_adapter at import time
_REGISTRY: dict[str, EncoderAdapter] = {}


@dataclass(frozen=True)
class TinyModel:
    """A tiny random model of one family, as :func:`ucf_nb.encoders.tiny.make_tiny_encoder` saves it.

    Attributes
    ----------
    model_class : type
        The family's Hugging Face class, built from ``config`` with seeded random weights.
    config : transformers.PretrainedConfig
        Its (small) config.
    processor : image processor or dict
        The processor config saved next to the weights, as the real checkpoints ship it: an
        image processor (its ``save_pretrained``), or a dict written as
        ``video_preprocessor_config.json``.
    """

    model_class: type
    config: Any
    processor: Any


class EncoderAdapter:
    """How one family of video models is loaded, called and pooled.

    Subclasses set the class attributes and override :meth:`embed` (and :meth:`load_model`
    when ``AutoModel`` is not the family's class); the other methods have defaults.

    Attributes
    ----------
    family : str
        Short name of the family (``"timesformer"``).
    model_types : tuple of str
        The ``config.model_type`` values this adapter serves.
    default_T : int
        Frames per clip the family's checkpoints are trained with.
    default_img_size : int
        Side of the square frames, in pixels.
    poolings : tuple of str
        Accepted poolings; ``poolings[0]`` is the family default.
    """

    family: ClassVar[str] = ""
    model_types: ClassVar[tuple[str, ...]] = ()
    default_T: ClassVar[int] = 8
    default_img_size: ClassVar[int] = 224
    poolings: ClassVar[tuple[str, ...]] = ()

    def load_model(self, source: str, config: Any, **kwargs: Any) -> torch.nn.Module:
        """Load the model from ``source`` (a local folder or a hub id) with ``config``.

        The default is ``AutoModel.from_pretrained`` without remote code; ``kwargs`` (e.g.
        ``attn_implementation``) are passed on.
        """
        from transformers import AutoModel

        return AutoModel.from_pretrained(source, config=config, trust_remote_code=False, **kwargs)

    def clip_length(self, config: Any) -> int:
        """Frames per clip when T is not given, for the checkpoint of ``config``: the family's
        ``default_T``; families whose position embeddings fix T return the config's value."""
        return int(self.default_T)

    def check_pooling(self, pooling: str, checkpoint: str) -> None:
        """Raise ValueError, naming the accepted values, when ``pooling`` is not one of ours."""
        if pooling not in self.poolings:
            accepted = " or ".join(repr(p) for p in self.poolings)
            raise ValueError(f"pooling must be {accepted} for {self.family} ({checkpoint!r}), got pooling={pooling!r}")

    def embed(self, model: torch.nn.Module, pixel_values: torch.Tensor, pooling: str) -> torch.Tensor:
        """Pool ``pixel_values`` (B, T, 3, S, S), normalised, on the model's device, into (B, D) float."""
        raise NotImplementedError(f"{type(self).__name__}.embed")

    def embedding_dim(self, model: torch.nn.Module, pooling: str) -> int:
        """D, the length of one embedding; the default is ``config.hidden_size``."""
        return int(model.config.hidden_size)

    def preprocessing(self, source: str, img_size: int | None) -> Preprocessing:
        """The checkpoint's own preprocessing (its processor config); ``img_size`` may be
        used by families whose processor config does not fix the size."""
        return Preprocessing.from_pretrained(source)

    def attention_kwargs(self, attention: str) -> dict[str, Any]:
        """``from_pretrained`` keyword arguments that select ``attention`` (``"sdpa"`` or
        ``"eager"``). The default asks transformers for its own implementation
        (``attn_implementation``); families whose transformers class has no SDPA return ``{}``
        and switch the loaded model in :meth:`set_attention` instead."""
        return {"attn_implementation": attention}

    def set_attention(self, model: torch.nn.Module, attention: str) -> None:
        """Switch the loaded ``model`` to ``attention`` when loading could not; default: nothing."""

    def attention(self, model: torch.nn.Module) -> str:
        """The attention implementation ``model`` runs (``"sdpa"``, ``"eager"``, ...); the
        default reads transformers' ``config._attn_implementation``."""
        return str(getattr(model.config, "_attn_implementation", None) or "eager")

    def info(self, model: torch.nn.Module) -> dict[str, Any]:
        """Extra facts for ``Encoder.info`` and the manifest; the default says which attention
        implementation runs (``{"attention": "sdpa"}``)."""
        return {"attention": self.attention(model)}

    def tiny_variants(self) -> tuple[str, ...]:
        """Names of the family's tiny test models (:meth:`tiny_config`); the default is the
        family's name alone."""
        return (self.family,)

    def tiny_config(self, variant: str, *, num_frames: int, image_size: int, patch_size: int) -> TinyModel:
        """The family's tiny random model ``variant`` (one of :meth:`tiny_variants`), for the
        tests and the demo: a small config of the family's Hugging Face class and the processor
        config its real checkpoints ship.

        Parameters
        ----------
        variant : str
            One of :meth:`tiny_variants`.
        num_frames : int
            Frames per clip the model is built for (per-frame families may ignore it).
        image_size, patch_size : int
            Side of the square frames and of the patches, in pixels (``patch_size`` divides
            ``image_size``).
        """
        raise NotImplementedError(
            f"{type(self).__name__}.tiny_config: every family describes its tiny test "
            "model (see ucf_nb/encoders/tiny.py)"
        )


def register_adapter(cls: type[EncoderAdapter]) -> type[EncoderAdapter]:
    """Class decorator: register one instance of ``cls`` for each of its ``model_types``."""
    if not (isinstance(cls, type) and issubclass(cls, EncoderAdapter)):
        raise TypeError(f"register_adapter takes an EncoderAdapter subclass, got {cls!r}")
    if not cls.family or not cls.model_types or not cls.poolings:
        raise ValueError(f"{cls.__name__} must set family, model_types and poolings (poolings[0] is the default)")
    adapter = cls()
    for model_type in cls.model_types:
        other = _REGISTRY.get(model_type)
        if other is not None and type(other) is not cls:
            raise ValueError(
                f"model_type {model_type!r} is served by both {type(other).__name__} and "
                f"{cls.__name__}: register it once"
            )
        _REGISTRY[model_type] = adapter
    return cls


def adapter_for(model_type: str) -> EncoderAdapter:
    """The registered adapter serving ``config.model_type == model_type``."""
    adapter = _REGISTRY.get(model_type)
    if adapter is None:
        known = ", ".join(
            f"{a.family} ({', '.join(a.model_types)})" for a in sorted(set(_REGISTRY.values()), key=lambda a: a.family)
        )
        raise ValueError(
            f"model_type={model_type!r} has no encoder adapter: the known families are {known}; "
            "add one in ucf_nb/encoders/ (an EncoderAdapter subclass with @register_adapter)"
        )
    return adapter


def adapters() -> list[EncoderAdapter]:
    """The registered adapters, one per family, sorted by family."""
    return sorted(set(_REGISTRY.values()), key=lambda a: a.family)


def families() -> list[str]:
    """Names of the registered families, sorted."""
    return sorted({a.family for a in _REGISTRY.values()})
