"""How the clip index is built, as one value: :class:`IndexSettings`.

:func:`ucf_nb.build_index` keeps its keyword parameters for users; it builds one
:class:`IndexSettings` from them (every option checked there, once, before any file is read)
and passes it down whole, so a new option is one field here and one keyword of
``build_index``. Where the dataset, the lists and the index are are not settings: they are the
arguments of the call.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..checks import check_bool, check_choice, check_float, check_int

__all__ = ["IndexSettings"]

LABEL_MODES = ("video", "temporal")
ON_MISSING = ("raise", "skip")


@dataclass(frozen=True)
class IndexSettings:
    """The options of :func:`ucf_nb.build_index` (see there for what each one does).

    Checked when made: a wrong type raises TypeError, a wrong value ValueError, each naming
    the parameter and the value. ``IndexSettings(clip_len=16).replace(stride=8)`` makes a
    variant; :meth:`to_dict` gives the JSON-ready options.
    """

    clip_len: int = 32
    stride: int = 16
    val_fraction: float = 0.15
    seed: int = 0
    label_mode: str = "video"
    anomaly_threshold: float = 0.5
    count_frames: bool = False
    on_missing: str = "raise"
    probe_threads: int = 8

    def __post_init__(self) -> None:
        who = "build_index: "
        for name, lo in (("clip_len", 1), ("stride", 1), ("probe_threads", 0), ("seed", 0)):
            object.__setattr__(self, name, check_int(name, getattr(self, name), lo))
        object.__setattr__(
            self,
            "val_fraction",
            float(check_float("val_fraction", self.val_fraction, 0, maximum=1, hi_open=True, who=who)),
        )
        check_choice("label_mode", self.label_mode, LABEL_MODES, who=who)
        object.__setattr__(
            self,
            "anomaly_threshold",
            float(check_float("anomaly_threshold", self.anomaly_threshold, 0, maximum=1, lo_open=True, who=who)),
        )
        object.__setattr__(self, "count_frames", check_bool("count_frames", self.count_frames, who=who))
        check_choice("on_missing", self.on_missing, ON_MISSING, who=who)

    def replace(self, **changes: Any) -> IndexSettings:
        """A copy with ``changes`` (checked like the original)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The options as plain JSON values, in field order."""
        return dataclasses.asdict(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in field order."""
        return tuple(f.name for f in dataclasses.fields(cls))
