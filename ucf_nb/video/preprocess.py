"""Preprocessing as a value: resize mode, size, crop, interpolation, rescale, mean and std.

A :class:`Preprocessing` is split in two so that DataLoader workers ship small uint8
frames and the float work happens wherever the model runs:

- :meth:`Preprocessing.spatial`: uint8 RGB frames (T, H, W, 3) -> uint8 (T, S, S, 3), on
  the CPU with OpenCV (resize, then centre crop);
- :meth:`Preprocessing.normalize`: uint8 tensor (B, T, S, S, 3) -> float (B, T, 3, S, S),
  ``(x * rescale_factor - offset - mean) / std`` (``offset`` is 1 or 0; by default
  ``(x / 255 - mean) / std``), on whatever device the tensor is on.

Two presets: :meth:`Preprocessing.seed` reproduces the prototype notebook exactly (squash
to S x S with bilinear interpolation, ImageNet mean/std) and
:meth:`Preprocessing.from_pretrained` follows an encoder's own preprocessor config (for
the Kinetics-400 TimeSformer: shorter side to 224, centre crop 224, mean/std 0.45/0.225).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import check_bool, check_float, check_int
from ..paths import resolve_path

__all__ = [
    "Preprocessing",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RESIZE_MODES",
    "INTERPOLATIONS",
    "PREPROCESSING_KINDS",
    "VIEWS",
    "TEN_CROP_RESIZE",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: "squash": resize to size x size, ignoring the aspect ratio (the prototype);
#: "shortest_edge": shorter side to ``size``, aspect kept (longer side truncated to an int,
#: as Hugging Face image processors do), then a centre crop of ``crop_size``.
RESIZE_MODES = ("squash", "shortest_edge")

#: interpolation name -> OpenCV flag name
INTERPOLATIONS = {
    "nearest": "INTER_NEAREST",
    "linear": "INTER_LINEAR",
    "cubic": "INTER_CUBIC",
    "area": "INTER_AREA",
    "lanczos": "INTER_LANCZOS4",
}

#: views of every clip -> how many: "center" (the preprocessing's own crop) or "ten_crop"
#: (torchvision's TenCrop: the four corners and the centre of the frame, then the same five crops
#: of the frame flipped horizontally)
VIEWS = {"center": 1, "ten_crop": 10}

#: ten-crop resize: the shorter side goes to crop x 256 / 224 (the field's resize 256, crop 224)
TEN_CROP_RESIZE = 256 / 224


def check_views(views: Any, who: str = "") -> str:
    """Raise ValueError unless ``views`` is one of :data:`VIEWS`; returns it."""
    if not isinstance(views, str) or views not in VIEWS:
        raise ValueError(f"{who}views must be 'center' or 'ten_crop', got views={views!r}")
    return views


#: what an encoder is fed: "checkpoint" (its own processor config) or "seed" (the prototype's)
PREPROCESSING_KINDS = ("checkpoint", "seed")


def check_preprocessing_kind(kind: Any, who: str = "") -> None:
    """Raise ValueError unless ``kind`` is one of :data:`PREPROCESSING_KINDS`; ``who``
    prefixes the message (e.g. ``"extract_split: "``)."""
    if kind not in PREPROCESSING_KINDS:
        raise ValueError(f"{who}preprocessing must be 'checkpoint' or 'seed', got preprocessing={kind!r}")


# PIL resample codes used in Hugging Face preprocessor configs -> our interpolation names.
# PIL's BOX (4) averages like OpenCV's INTER_AREA; HAMMING (5) has no OpenCV twin: refused.
_PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "linear", 3: "cubic", 4: "area"}

# Processor-config switches that do not change pixels of RGB frames sampled by the index:
# frames are decoded as RGB already, and which frames a clip holds is the index's choice.
_HARMLESS_SWITCHES = ("do_convert_rgb", "do_sample_frames")
# Switches this module honours (read in from_processor_config).
_HONOURED_SWITCHES = ("do_resize", "do_center_crop", "do_rescale", "do_normalize")
# Fields that change pixels with no do_* switch of their own, and which this module cannot follow.
_REFUSED_FIELDS = ("crop_pct", "size_divisor", "size_divisibility", "pad_size")


def _resolved_image_config(ckpt: str, config: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as Hugging Face's image processor resolves it: the fields the file lacks take
    the processor class's defaults (``AutoImageProcessor.from_pretrained(...).to_dict()``); the
    file's other keys (e.g. ``crop_pct``) are kept for :meth:`Preprocessing.from_processor_config`
    to follow or refuse. When transformers cannot build the processor here, the file as written."""
    from transformers import AutoImageProcessor
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "requires torchvision, falling back to the PIL class" and the like
    try:
        processor = AutoImageProcessor.from_pretrained(ckpt, trust_remote_code=False, **kwargs)
        resolved = processor.to_dict()
    except Exception:  # noqa: BLE001 - no processor class for it here: read the file as written
        return dict(config)
    finally:
        hf_logging.set_verbosity(level)
    return {**config, **resolved}


def _triple(value: Any, name: str) -> tuple[float, float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value,) * 3
    try:
        out = tuple(float(v) for v in value)
    except TypeError:
        raise ValueError(f"Preprocessing.{name} must be 3 numbers (one per RGB channel), got {value!r}") from None
    if len(out) != 3 or not all(math.isfinite(v) for v in out):
        raise ValueError(f"Preprocessing.{name} must be 3 finite numbers (one per RGB channel), got {value!r}")
    return out


@dataclass(frozen=True)
class Preprocessing:
    """How decoded RGB frames become encoder input.

    Parameters
    ----------
    resize : {"squash", "shortest_edge"}
        ``"squash"`` resizes every frame to ``size`` x ``size`` (aspect ratio not kept);
        ``"shortest_edge"`` scales the shorter side to ``size`` keeping the aspect ratio.
    size : int
        Output side (squash) or shorter side after resizing (shortest_edge), in pixels.
    crop_size : int or None
        Side of the centre crop taken after resizing. None: no crop for ``"squash"``, and
        ``size`` for ``"shortest_edge"`` (the output is always square).
    interpolation : {"linear", "cubic", "area", "nearest", "lanczos"}
        OpenCV interpolation used by the resize.
    rescale_factor : float
        Pixels are multiplied by this first (default ``1 / 255``: [0, 1]).
    offset : bool
        Subtract 1 after rescaling (ViViT's ``offset``: with ``rescale_factor = 1 / 127.5``
        pixels span [-1, 1]).
    mean, std : tuple of 3 floats
        Per RGB channel, applied to the rescaled pixels:
        ``(x * rescale_factor - offset - mean) / std``.
    preset : str
        Name of the preset this value came from ("seed", "checkpoint" or "custom").
    source : str or None
        Where the values came from (e.g. the checkpoint), recorded in manifests.
    views : {"center", "ten_crop"}
        ``"center"``: one view per frame, the crop above. ``"ten_crop"``: ten views of the
        same resized frame (``resize="shortest_edge"``; ``crop_size`` the side of each view),
        in the order of torchvision's ``TenCrop``: the top-left, top-right, bottom-left,
        bottom-right and centre crops of the frame, then those five of the frame flipped
        horizontally (view 5 is the mirror of view 1, view 6 of view 0, ...). Build one with
        :meth:`with_views`. :meth:`spatial` returns the six crops that make the ten views
        (workers ship those); :meth:`expand_views` makes the ten wherever the batch is.
    """

    resize: str = "squash"
    size: int = 224
    crop_size: int | None = None
    interpolation: str = "linear"
    rescale_factor: float = 1 / 255
    offset: bool = False
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    preset: str = "custom"
    source: str | None = None
    views: str = "center"

    def __post_init__(self) -> None:
        check_views(self.views, "Preprocessing: ")
        if self.views != "center" and self.resize != "shortest_edge":
            raise ValueError(
                f"Preprocessing(views={self.views!r}) needs resize='shortest_edge' (crops of the "
                f"resized frame), got resize={self.resize!r}: build it with .with_views({self.views!r})"
            )
        if self.resize not in RESIZE_MODES:
            raise ValueError(
                f"Preprocessing.resize={self.resize!r} is not a resize mode: "
                f"use one of {', '.join(map(repr, RESIZE_MODES))}"
            )
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"Preprocessing.interpolation={self.interpolation!r} is not "
                f"supported: use one of {', '.join(map(repr, INTERPOLATIONS))}"
            )
        for name in ("size", "crop_size"):
            v = getattr(self, name)
            if v is None and name == "crop_size":
                continue
            object.__setattr__(self, name, check_int(name, v, 1, who="Preprocessing: "))
        if self.crop_size is None and self.resize == "shortest_edge":
            object.__setattr__(self, "crop_size", self.size)
        if self.crop_size is not None and self.crop_size > self.size:
            raise ValueError(
                f"Preprocessing.crop_size={self.crop_size} is larger than "
                f"size={self.size}: the centre crop must fit in the resized frame"
            )
        object.__setattr__(
            self,
            "rescale_factor",
            check_float(
                "rescale_factor", self.rescale_factor, 0, lo_open=True, who="Preprocessing: ", hint=" (e.g. 1/255)"
            ),
        )
        object.__setattr__(self, "offset", check_bool("offset", self.offset, who="Preprocessing: "))
        mean, std = _triple(self.mean, "mean"), _triple(self.std, "std")
        if min(std) <= 0:
            raise ValueError(f"Preprocessing.std must be positive, got {std}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        if not isinstance(self.preset, str) or not self.preset:
            raise ValueError(f"Preprocessing.preset must be a non-empty str, got {self.preset!r}")
        if self.source is not None:
            object.__setattr__(self, "source", str(self.source))

    # ----------------------------------------------------------------- presets
    @classmethod
    def seed(cls, img_size: int = 224) -> Preprocessing:
        """The prototype's preprocessing: squash to ``img_size`` x ``img_size`` with bilinear
        interpolation, ImageNet mean/std."""
        return cls(
            resize="squash",
            size=img_size,
            crop_size=None,
            interpolation="linear",
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            preset="seed",
            source=None,
        )

    @classmethod
    def from_pretrained(cls, checkpoint: str | os.PathLike, **kwargs: Any) -> Preprocessing:
        """Follow a Hugging Face checkpoint's own preprocessor config.

        Reads ``preprocessor_config.json`` through transformers (a local folder saved with
        ``save_pretrained`` or a hub id; no remote code is run), or, when the checkpoint has
        none, its ``video_preprocessor_config.json`` (V-JEPA 2), and maps it onto a value with
        ``preset="checkpoint"``: see :meth:`from_processor_config`. A field the file does not
        write (older ``*FeatureExtractor`` configs often lack ``crop_size``, ``do_rescale``...)
        takes the value the checkpoint's own image processor class gives it, as
        ``AutoImageProcessor.from_pretrained`` does, never a ucf_nb default.

        Parameters
        ----------
        checkpoint : str or path-like
            Hub id or folder. Relative folders resolve against the project root when they
            exist there.
        **kwargs
            Passed to transformers (e.g. ``revision``, ``local_files_only``, ``cache_dir``).
        """
        from transformers.image_processing_utils import ImageProcessingMixin

        ckpt = str(checkpoint)
        local = resolve_path(ckpt)
        if local.is_dir():
            ckpt = str(local)
        try:
            config, _ = ImageProcessingMixin.get_image_processor_dict(ckpt, **kwargs)
            config = _resolved_image_config(ckpt, config, kwargs)
        except OSError as image_error:
            from transformers.video_processing_utils import BaseVideoProcessor

            try:
                config, _ = BaseVideoProcessor.get_video_processor_dict(ckpt, **kwargs)
            except OSError:
                raise image_error from None
        return cls.from_processor_config(config, source=str(checkpoint))

    @classmethod
    def from_processor_config(cls, config: Mapping[str, Any], *, source: str | None = None) -> Preprocessing:
        """Map a Hugging Face image- or video-processor config dict onto a :class:`Preprocessing`.

        Every field that changes pixels is followed or refused with a message naming it:
        ``do_resize``/``size`` (``shortest_edge``, or a square ``height``/``width``),
        ``resample`` (PIL codes 0-4), ``do_center_crop``/``crop_size`` (square),
        ``do_rescale``/``rescale_factor``/``offset``, ``do_normalize``/``image_mean``/
        ``image_std``. Any other ``do_*`` switch that is on (padding, channel flips...),
        ``crop_pct``-style fields and a ``shortest_edge`` resize with ``do_center_crop=False``
        (non-square frames) are refused; ``do_convert_rgb`` and ``do_sample_frames``
        change nothing here (frames are decoded as RGB, and the index chooses the frames).
        """
        where = f"the preprocessor config of {source}" if source else "the preprocessor config"
        for key, value in config.items():
            if key.startswith("do_") and key not in _HONOURED_SWITCHES + _HARMLESS_SWITCHES and value:
                raise ValueError(
                    f"{where} has {key}={value!r}, which changes pixels in a way ucf_nb "
                    f"does not follow: build Preprocessing(...) by hand, or use a "
                    f"checkpoint without it"
                )
            if key in _REFUSED_FIELDS and value not in (None, False, 0):
                raise ValueError(
                    f"{where} has {key}={value!r}, which ucf_nb does not follow: build Preprocessing(...) by hand"
                )
        if not config.get("do_resize", True):
            raise ValueError(
                f"{where} has do_resize=False: frames of any size cannot be fed "
                f"to a fixed-size encoder; build Preprocessing(...) by hand"
            )
        size = config.get("size")
        if isinstance(size, (int, float)) and not isinstance(size, bool):
            size = {"shortest_edge": int(size)}
        if not isinstance(size, Mapping):
            raise ValueError(
                f"{where} has size={size!r}: expected {{'shortest_edge': N}} or {{'height': N, 'width': N}}"
            )
        if size.get("shortest_edge") is not None:
            if size.get("longest_edge") is not None:
                raise ValueError(
                    f"{where} has size={dict(size)}: a longest_edge limit is not "
                    f"supported; build Preprocessing(...) by hand"
                )
            resize, side = "shortest_edge", int(size["shortest_edge"])
        elif size.get("height") is not None and size.get("width") is not None:
            if int(size["height"]) != int(size["width"]):
                raise ValueError(f"{where} has a non-square size={dict(size)}: only square outputs are supported")
            resize, side = "squash", int(size["height"])
        else:
            raise ValueError(f"{where} has size={dict(size)}: expected 'shortest_edge' or 'height' and 'width'")
        crop = None
        if resize == "shortest_edge" and "do_center_crop" in config and not config["do_center_crop"]:
            raise ValueError(
                f"{where} has do_center_crop=False with size={dict(size)}: its frames keep their "
                f"aspect ratio (not square), which ucf_nb does not follow; build "
                f"Preprocessing(...) by hand (it always centre crops a square)"
            )
        if config.get("do_center_crop", False):
            cs = config.get("crop_size")
            if isinstance(cs, (int, float)) and not isinstance(cs, bool):
                cs = {"height": int(cs), "width": int(cs)}
            if (
                not isinstance(cs, Mapping)
                or cs.get("height") is None
                or int(cs["height"]) != int(cs.get("width") or -1)
            ):
                raise ValueError(
                    f"{where} has crop_size={cs!r}: only square crops ({{'height': N, 'width': N}}) are supported"
                )
            crop = int(cs["height"])
        if resize == "squash" and crop == side:
            crop = None
        if config.get("do_rescale", True):
            factor = config.get("rescale_factor", 1 / 255)
            offset = config.get("offset", False)
            if not isinstance(offset, bool):
                raise ValueError(f"{where} has offset={offset!r}: expected true or false")
        else:
            factor, offset = 1.0, bool(config.get("offset", False))
            if offset:
                raise ValueError(
                    f"{where} has offset=True with do_rescale=False: Hugging Face "
                    f"processors refuse this too; fix the config"
                )
        if config.get("do_normalize", True):
            mean = config.get("image_mean", IMAGENET_MEAN)
            std = config.get("image_std", IMAGENET_STD)
        else:
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        resample = config.get("resample", 2)
        try:
            interp = _PIL_RESAMPLE[int(resample)]
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{where} has resample={resample!r}: expected a PIL resample code "
                f"0-4 (nearest, lanczos, bilinear, bicubic, box); HAMMING (5) has no "
                f"OpenCV equivalent"
            ) from None
        try:
            return cls(
                resize=resize,
                size=side,
                crop_size=crop,
                interpolation=interp,
                rescale_factor=factor,
                offset=offset,
                mean=mean,
                std=std,
                preset="checkpoint",
                source=source,
            )
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    # ------------------------------------------------------------ round trip
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for manifests); inverse of :meth:`from_dict`."""
        d = dataclasses.asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        if d["views"] == "center":  # absent for one view: manifests written before views existed match
            del d["views"]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Preprocessing:
        """Rebuild a value written by :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown Preprocessing keys {unknown}: expected a subset of {sorted(names)}")
        kw = dict(d)
        for k in ("mean", "std"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)

    def with_views(self, views: str) -> Preprocessing:
        """This preprocessing with ``views`` per clip.

        ``"center"`` returns ``self`` unchanged. ``"ten_crop"`` keeps the interpolation,
        rescale and mean/std and replaces the geometry by the field's ten-crop one: the shorter
        side resized to ``round(output_size x 256 / 224)`` (256 for a 224 crop), then ten views
        of ``output_size`` pixels (see the class's ``views``).
        """
        check_views(views, "Preprocessing.with_views: ")
        if views == self.views:
            return self
        if views == "center":
            raise ValueError(
                "Preprocessing.with_views('center') of a ten-crop preprocessing: its centre view "
                "is not the checkpoint's own crop; build the centre preprocessing from the checkpoint"
            )
        crop = self.output_size
        return dataclasses.replace(
            self, resize="shortest_edge", size=int(round(crop * TEN_CROP_RESIZE)), crop_size=crop, views=views
        )

    @property
    def n_views(self) -> int:
        """Views per clip (1 or 10)."""
        return VIEWS[self.views]

    @property
    def n_crops(self) -> int:
        """Crops :meth:`spatial_frame` cuts from one frame: 1, or 6 for ten-crop (the flips are
        made by :meth:`expand_views`)."""
        return 1 if self.views == "center" else 6

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one frame out of :meth:`spatial_frame`: (S, S, 3), or (6, S, S, 3) for ten-crop."""
        s = self.output_size
        return (s, s, 3) if self.n_crops == 1 else (self.n_crops, s, s, 3)

    # ---------------------------------------------------------------- apply
    @property
    def output_size(self) -> int:
        """Side S of the square frames :meth:`spatial` returns, in pixels."""
        return self.crop_size if self.crop_size is not None else self.size

    def resized_shape(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of a ``height`` x ``width`` frame after the resize, before the crop."""
        if self.resize == "squash":
            return self.size, self.size
        short, long = (height, width) if height <= width else (width, height)
        new_long = int(self.size * long / short)
        return (self.size, new_long) if height <= width else (new_long, self.size)

    def spatial_frame(self, frame: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Resize and crop one uint8 frame (H, W, C) -> (S, S, C); channel order kept.

        Ten-crop: (6, S, S, C), the top-left, top-right, bottom-left, bottom-right and centre
        crops of the one resized frame (the centre's offset rounded as torchvision's
        ``center_crop`` rounds it, ``int(round((side - S) / 2))``), and the crop whose mirror
        is the centre crop of the flipped frame (the centre itself unless the horizontal
        margin is odd). :meth:`expand_views` makes the ten views from them.

        ``out``: a C-contiguous uint8 array of the result's shape (:attr:`frame_shape` for
        three channels) to write the result into, e.g. a slot of a preallocated clip; without
        a crop the resize writes there directly. Returned.
        """
        import cv2

        h, w = frame.shape[:2]
        rh, rw = self.resized_shape(h, w)
        flag = getattr(cv2, INTERPOLATIONS[self.interpolation])
        c = self.crop_size
        crop = c is not None and (rh, rw) != (c, c)
        if out is not None:
            shape = self.frame_shape[:-1] + frame.shape[2:]
            if out.shape != shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
                raise ValueError(
                    f"Preprocessing.spatial_frame: out must be a C-contiguous uint8 array of "
                    f"shape {shape}, got {out.dtype} {out.shape}"
                )
            if (rh, rw) != (h, w) and not crop and self.views == "center":
                cv2.resize(frame, (rw, rh), dst=out, interpolation=flag)
                return out
        res = frame if (rh, rw) == (h, w) else cv2.resize(frame, (rw, rh), interpolation=flag)
        if self.views != "center":
            assert c is not None  # views other than "center" need resize="shortest_edge", which sets crop_size
            top, left = int(round((rh - c) / 2.0)), int(round((rw - c) / 2.0))
            corners = ((0, 0), (0, rw - c), (rh - c, 0), (rh - c, rw - c), (top, left), (top, rw - c - left))
            if out is None:
                return np.stack([res[y : y + c, x : x + c] for y, x in corners])
            for i, (y, x) in enumerate(corners):
                out[i] = res[y : y + c, x : x + c]
            return out
        if crop:
            assert c is not None  # crop says so
            top, left = (rh - c) // 2, (rw - c) // 2
            res = res[top : top + c, left : left + c]
        if out is not None:
            out[...] = res
            return out
        return np.ascontiguousarray(res)

    def spatial(self, frames: np.ndarray) -> np.ndarray:
        """Resize (then centre crop) uint8 RGB frames.

        Parameters
        ----------
        frames : numpy.ndarray of uint8, shape (T, H, W, 3) or (H, W, 3)

        Returns
        -------
        numpy.ndarray of uint8, shape (T, S, S, 3) or (S, S, 3)
            ``S = output_size``; ten-crop: (T, 6, S, S, 3) or (6, S, S, 3), the six crops of
            :meth:`spatial_frame` (:meth:`expand_views` makes the ten views).
        """
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or frames.shape[-1] != 3:
            raise ValueError(
                f"Preprocessing.spatial expects uint8 frames of shape (T, H, W, 3) "
                f"or (H, W, 3), got dtype {frames.dtype} shape {frames.shape}"
            )
        if frames.ndim == 3:
            return self.spatial_frame(frames)
        out = np.empty((frames.shape[0], *self.frame_shape), dtype=np.uint8)
        for t in range(frames.shape[0]):
            out[t] = self.spatial_frame(frames[t])
        return out

    def expand_views(self, frames):
        """The views of spatially preprocessed clips, views before frames.

        Parameters
        ----------
        frames : torch.Tensor or numpy.ndarray of uint8
            (B, T, S, S, 3) (one view) or (B, T, 6, S, S, 3) (ten-crop: :meth:`spatial`'s six
            crops per frame); or one clip, without the B axis.

        Returns
        -------
        same type, shape (B, V, T, S, S, 3) (or (V, T, S, S, 3))
            ``V = n_views``; ten-crop in torchvision's ``TenCrop`` order: the frame's top-left,
            top-right, bottom-left, bottom-right and centre crops, then the same five crops of
            the frame flipped horizontally (the mirrors of its top-right, top-left,
            bottom-right, bottom-left and centre crops), on the input's device.
        """
        single = frames.ndim == (4 if self.n_crops == 1 else 5)
        want = (4 if self.n_crops == 1 else 5) + (0 if single else 1)
        if frames.ndim != want or tuple(frames.shape[-len(self.frame_shape) :]) != self.frame_shape:
            shape = ", ".join(map(str, self.frame_shape))
            raise ValueError(
                f"Preprocessing.expand_views expects frames of shape (B, T, {shape})"
                f" or one clip without B, got shape {tuple(frames.shape)}"
            )
        if single:
            frames = frames[None]
        if self.n_crops == 1:
            out = frames[:, None]
        else:
            # the flipped frame's top-left is the mirror of the frame's top-right, and so on
            mirrored = [1, 0, 3, 2, 5]
            if isinstance(frames, np.ndarray):
                crops = np.swapaxes(frames, 1, 2)  # (B, 6, T, S, S, 3)
                out = np.concatenate([crops[:, :5], crops[:, mirrored][..., ::-1, :]], axis=1)
            else:
                import torch

                crops = frames.transpose(1, 2)
                out = torch.cat([crops[:, :5], torch.flip(crops[:, mirrored], dims=(-2,))], dim=1)
        return out[0] if single else out

    def normalize(self, frames, dtype=None):
        """uint8 frames -> normalised float, channels moved before the spatial axes.

        Computes ``(x * rescale_factor - offset - mean) / std`` in float32 on the tensor's own
        device, then casts to ``dtype``. With the default ``rescale_factor = 1 / 255`` the
        rescale is a division by 255: the prototype's arithmetic, bit for bit on the CPU.

        Parameters
        ----------
        frames : torch.Tensor or numpy.ndarray of uint8, shape (B, T, S, S, 3) or (T, S, S, 3)
        dtype : torch.dtype, optional
            Output dtype (default float32).

        Returns
        -------
        torch.Tensor, shape (B, T, 3, S, S) or (T, 3, S, S)
            Contiguous, on the input's device.
        """
        import torch

        if isinstance(frames, np.ndarray):
            frames = torch.from_numpy(frames)
        if (
            not isinstance(frames, torch.Tensor)
            or frames.dtype != torch.uint8
            or frames.ndim not in (4, 5)
            or frames.shape[-1] != 3
        ):
            got = (
                f"dtype {frames.dtype} shape {tuple(frames.shape)}"
                if hasattr(frames, "shape")
                else type(frames).__name__
            )
            raise ValueError(
                f"Preprocessing.normalize expects a uint8 tensor of shape (B, T, S, S, 3) or (T, S, S, 3), got {got}"
            )
        dtype = torch.float32 if dtype is None else dtype
        dev = frames.device
        mean = torch.tensor(self.mean, dtype=torch.float32, device=dev).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=dev).view(3, 1, 1)
        # channels first while still uint8 (cheap), then float ops on contiguous planes:
        # the same element-wise arithmetic as (x / 255 - mean) / std on (..., 3) arrays
        x = frames.movedim(-1, -3).contiguous().to(torch.float32)
        if math.isclose(self.rescale_factor * 255.0, 1.0, rel_tol=1e-12):
            x.div_(255.0)
        else:
            x.mul_(self.rescale_factor)
        if self.offset:
            x.sub_(1.0)
        x.sub_(mean).div_(std)
        return x if x.dtype == dtype else x.to(dtype)
