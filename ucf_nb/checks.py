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


def printable_path(path: Any) -> str:
    """``path`` as text that can always be printed: bytes that are not UTF-8 (kept by Python
    as lone surrogates, ``\\udcff``) are shown as ``\\xff``."""
    import os

    raw = os.fsencode(os.fspath(path))
    return raw.decode("utf-8", "backslashreplace")


def utf8_path_problem(path: Any) -> str | None:
    """None when ``path`` is valid UTF-8; else the sentence's middle part saying it is not
    (OpenCV crashes the process on such a path, and no CSV can hold it)."""
    import os

    try:
        os.fsencode(os.fspath(path)).decode("utf-8")
    except UnicodeDecodeError as exc:
        return (f"its path {printable_path(path)} has a byte that is not UTF-8 (0x{exc.object[exc.start]:02x}), "
                "which OpenCV cannot open and the index cannot store")
    return None
