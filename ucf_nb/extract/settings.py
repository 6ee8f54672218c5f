"""How a split is extracted, as one value: :class:`ExtractSettings`.

:func:`ucf_nb.extract_split` keeps its keyword parameters for users; it builds one
:class:`ExtractSettings` from them (every option checked there, once, before anything is
loaded) and passes it down whole, so a new option is one field here and one keyword of
``extract_split``. Which split, where the index and the outputs are and which shard are not
settings: they are the arguments of the call.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from ..checks import check_bool, check_choice, check_float, check_int
from ..video.preprocess import check_preprocessing_kind, check_views

__all__ = ["ExtractSettings"]

ON_ERROR = ("skip", "raise")


@dataclass(frozen=True)
class ExtractSettings:
    """The options of :func:`ucf_nb.extract_split` (see there for what each one does).

    Checked when made: a wrong type raises TypeError, a wrong value ValueError, each naming
    the parameter and the value. ``ExtractSettings(T=8).replace(limit=40)`` makes a variant;
    :meth:`to_dict` gives the JSON-ready options (paths as strings).
    """

    checkpoint: str | os.PathLike = "facebook/timesformer-base-finetuned-k400"
    T: int | None = None
    img_size: int | None = None
    batch_size: int | str = "auto"
    num_workers: int | str = "auto"
    device: str = "auto"
    precision: str = "auto"
    pooling: str | None = None
    preprocessing: str = "checkpoint"
    video_root: str | os.PathLike | None = None
    resume: bool = True
    limit: int | None = None
    attention: str = "auto"
    compile: bool = False
    on_error: str = "skip"
    retry_failed: bool = True
    stall_timeout: float = 300.0
    progress: bool = True
    views: str = "center"

    def __post_init__(self) -> None:

        who = "extract_split: "
        for name, lo in (("batch_size", 1), ("num_workers", 0)):
            value = getattr(self, name)
            if isinstance(value, str):  # the right type: a wrong word is a wrong value
                if value != "auto":
                    raise ValueError(f"{who}{name} must be an int >= {lo} or 'auto', got {name}={value!r}")
            else:
                check_int(name, value, lo, also="'auto'", who=who)
        for name in ("T", "img_size", "limit"):
            check_int(name, getattr(self, name), 1, allow_none=True, who=who)
        for name in ("resume", "compile", "retry_failed", "progress"):
            check_bool(name, getattr(self, name), who=who)
        check_choice("on_error", self.on_error, ON_ERROR, who=who)
        object.__setattr__(
            self, "stall_timeout", check_float("stall_timeout", self.stall_timeout, 0, lo_open=True, who=who)
        )
        check_preprocessing_kind(self.preprocessing, who)
        check_views(self.views, who)
        for name in ("device", "precision", "attention"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{who}{name} must be a string, got {name}={getattr(self, name)!r}")
        for name in ("checkpoint", "video_root"):
            value = getattr(self, name)
            if not (isinstance(value, (str, os.PathLike)) or (value is None and name == "video_root")):
                raise TypeError(f"{who}{name} must be a string or a path, got {name}={value!r}")
        if self.pooling is not None and not isinstance(self.pooling, str):
            raise TypeError(f"{who}pooling must be a string or None, got pooling={self.pooling!r}")

    def replace(self, **changes: Any) -> ExtractSettings:
        """A copy with ``changes`` (checked like the original)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The options as plain JSON values (paths as strings), in field order."""
        return {
            f.name: (os.fspath(v) if isinstance(v, os.PathLike) else v)
            for f in dataclasses.fields(self)
            for v in (getattr(self, f.name),)
        }

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in field order."""
        return tuple(f.name for f in dataclasses.fields(cls))
