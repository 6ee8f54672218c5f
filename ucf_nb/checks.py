"""Argument checks shared by the public functions (one home for each kind of check), and
:class:`UcfNbError`, the base of the package's own exceptions.

Every check names the parameter and the value it got, prefixed by ``who`` (e.g.
``"extract_split: "``): a value of the wrong *type* raises :class:`TypeError` (``max_iter=2.9``,
``max_iter=True``, ``lr="0.1"``), a value of the right type outside what the parameter allows
raises :class:`ValueError` (``max_iter=0``, ``lr=-1.0``, ``lr=nan``). Nothing is rounded or
coerced silently: a check returns the value as a plain ``int``/``float``/``bool``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np

__all__ = ["UcfNbError"]  # the checks raise, the callers are public


class UcfNbError(Exception):
    """Base of the errors ucf_nb raises on its own (each also subclasses the built-in
    exception it is a kind of: ``except OSError`` still catches :class:`ucf_nb.StoreWriteError`).

    ``except ucf_nb.UcfNbError`` catches every one of them; a bad argument raises the
    built-in :class:`TypeError` or :class:`ValueError` (see :mod:`ucf_nb.checks`).
    """


def _bound(minimum: float | None, maximum: float | None, lo_open: bool, hi_open: bool) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if lo_open else '>='} {minimum}")
    if maximum is not None:
        parts.append(f"{'<' if hi_open else '<='} {maximum}")
    return " and ".join(parts)


@overload
def check_int(
    name: str,
    value: Any,
    minimum: int | None = None,
    *,
    maximum: int | None = None,
    allow_none: Literal[False] = False,
    who: str = "",
    also: str = "",
    hint: str = "",
) -> int: ...
@overload
def check_int(
    name: str,
    value: Any,
    minimum: int | None = None,
    *,
    maximum: int | None = None,
    allow_none: bool,
    who: str = "",
    also: str = "",
    hint: str = "",
) -> int | None: ...


def check_int(
    name: str,
    value: Any,
    minimum: int | None = None,
    *,
    maximum: int | None = None,
    allow_none: bool = False,
    who: str = "",
    also: str = "",
    hint: str = "",
) -> int | None:
    """``int(value)`` when it is an integer (not a bool, not a float) within
    ``[minimum, maximum]``, or None with ``allow_none`` (``also``: another accepted form named
    in the message, e.g. ``"'auto'"``; ``hint``: appended to the requirement, e.g.
    ``", e.g. 16"``).

    Raises
    ------
    TypeError
        Not an integer (``2.9``, ``True``, ``"3"``), or None without ``allow_none``.
    ValueError
        An integer outside the bounds.
    """
    if value is None and allow_none:
        return None
    extra = " or None" if allow_none else ""
    extra += f" or {also}" if also else ""
    bound = _bound(minimum, maximum, False, False)
    what = f"an int{' ' + bound if bound else ''}{extra}{hint}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who}{name} must be {what}, got {name}={value!r} ({type(value).__name__})")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{who}{name} must be {what}, got {name}={value!r}")
    return int(value)


@overload
def check_float(
    name: str,
    value: Any,
    minimum: float | None = None,
    *,
    maximum: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    allow_none: Literal[False] = False,
    who: str = "",
    hint: str = "",
) -> float: ...
@overload
def check_float(
    name: str,
    value: Any,
    minimum: float | None = None,
    *,
    maximum: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    allow_none: bool,
    who: str = "",
    hint: str = "",
) -> float | None: ...


def check_float(
    name: str,
    value: Any,
    minimum: float | None = None,
    *,
    maximum: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    allow_none: bool = False,
    who: str = "",
    hint: str = "",
) -> float | None:
    """``float(value)`` when it is a finite real number (an int is fine, a bool is not) within
    the bounds (``lo_open``/``hi_open``: the bound itself is excluded), or None with
    ``allow_none``.

    Raises
    ------
    TypeError
        Not a real number (``True``, ``"0.1"``, None without ``allow_none``).
    ValueError
        NaN, infinite, or outside the bounds.
    """
    if value is None and allow_none:
        return None
    extra = " or None" if allow_none else ""
    bound = _bound(minimum, maximum, lo_open, hi_open)
    what = f"a finite number{' ' + bound if bound else ''}{extra}{hint}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{who}{name} must be {what}, got {name}={value!r} ({type(value).__name__})")
    v = float(value)
    bad = not math.isfinite(v)
    if minimum is not None:
        bad = bad or (v <= minimum if lo_open else v < minimum)
    if maximum is not None:
        bad = bad or (v >= maximum if hi_open else v > maximum)
    if bad:
        raise ValueError(f"{who}{name} must be {what}, got {name}={value!r}")
    return v


def check_bool(name: str, value: Any, *, who: str = "") -> bool:
    """``value`` when it is True or False (numpy's bool too); else TypeError (``1`` and
    ``"yes"`` are not booleans)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{who}{name} must be True or False, got {name}={value!r} ({type(value).__name__})")
    return bool(value)


def check_choice(name: str, value: Any, choices: Sequence[Any], *, who: str = "") -> Any:
    """``value`` when it is one of ``choices``; else ValueError listing them (TypeError when
    the choices are strings and ``value`` is not one)."""
    if all(isinstance(c, str) for c in choices) and not isinstance(value, str):
        raise TypeError(f"{who}{name} must be one of {tuple(choices)}, got {name}={value!r} ({type(value).__name__})")
    if value not in choices:
        raise ValueError(f"{who}{name} must be one of {tuple(choices)}, got {name}={value!r}")
    return value


def settings_from_call(cls: type, values: dict[str, Any], settings: Any, *, who: str, keyword: str = "settings") -> Any:
    """The settings of a public call: ``cls`` made from the keywords in ``values`` (a
    function's ``locals()``: one entry per field of ``cls``), or ``settings`` itself when given
    (then every keyword must be left at its default; ValueError naming the first that is not)."""
    fields = dataclasses.fields(cls)
    if settings is None:
        return cls(**{f.name: values[f.name] for f in fields})
    if not isinstance(settings, cls):
        raise TypeError(f"{who}: {keyword} must be a {cls.__name__} or None, got {keyword}={settings!r}")
    for f in fields:
        factory: Any = f.default_factory  # a field without a default has a factory
        default = f.default if f.default is not dataclasses.MISSING else factory()
        value = values[f.name]
        if value is not default and value != default:
            raise ValueError(
                f"{who}: pass {f.name}={value!r} inside {keyword}= ({keyword}.replace({f.name}=...)), "
                f"not beside it: with {keyword} given, the other keywords stay at their defaults"
            )
    return settings


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
        return (
            f"its path {printable_path(path)} has a byte that is not UTF-8 (0x{exc.object[exc.start]:02x}), "
            "which OpenCV cannot open and the index cannot store"
        )
    return None
