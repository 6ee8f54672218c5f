"""Argument checks shared by the public functions (one home for each kind of check)."""
from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

__all__: list[str] = []  # internal: the checks raise, the callers are public


@overload
def check_int(name: str, value: Any, minimum: int, *, allow_none: Literal[False] = False, who: str = "") -> int: ...
@overload
def check_int(name: str, value: Any, minimum: int, *, allow_none: bool, who: str = "") -> int | None: ...


def check_int(name: str, value: Any, minimum: int, *, allow_none: bool = False, who: str = "") -> int | None:
    """``int(value)`` when it is an integer (not a bool) ``>= minimum`` (or None with
    ``allow_none``); else ValueError naming ``name``, the bound and the value, prefixed by
    ``who`` (e.g. ``"extract_split: "``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{who}{name} must be an int >= {minimum}{extra}, got {name}={value!r}")
    return int(value)
