"""Renamed parameters: the old names keep working for one release, with a FutureWarning.

ucf-nb 0.2 uses one name per concept across notebooks, functions and ``-p`` overrides
(``annotation_path``, ``probe_threads`` for the index build's video-probing threads,
``num_workers`` for DataLoader worker processes only, ``img_size``, ``T``). Old names given by a
caller are mapped here; when the old and the new name are both given, the new one wins.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

REMOVED_IN = "0.3"


def rename_deprecated(old_values: Mapping[str, Any], renames: Mapping[str, str],
                      new_values: Mapping[str, tuple[Any, Any]], *, where: str,
                      stacklevel: int = 3) -> dict[str, Any]:
    """Map deprecated keyword arguments onto their new names.

    Parameters
    ----------
    old_values : mapping
        Old name -> value as the caller passed it; None means "not given".
    renames : mapping
        Old name -> new name.
    new_values : mapping
        New name -> (value passed, its default). A value other than the default counts as given.
    where : str
        The function's name, for the messages.

    Returns
    -------
    dict
        New name -> the value to use.

    Raises
    ------
    TypeError
        An old name that is not a known rename (a typo): named, as Python would.
    """
    out = {new: value for new, (value, _default) in new_values.items()}
    for old, value in old_values.items():
        if old not in renames:
            raise TypeError(f"{where}() got an unexpected keyword argument {old!r}")
        if value is None:
            continue
        new = renames[old]
        given, default = new_values[new]
        if given is not default and given != default:
            warnings.warn(f"{where}: {old}= is the old name of {new}= and both were given; using "
                          f"{new}={given!r} and ignoring {old}={value!r}. Drop {old}= (it is removed in "
                          f"ucf-nb {REMOVED_IN}).", FutureWarning, stacklevel=stacklevel)
        else:
            warnings.warn(f"{where}: {old}= is renamed {new}= (the old name is removed in ucf-nb "
                          f"{REMOVED_IN}); using {new}={value!r}.", FutureWarning, stacklevel=stacklevel)
            out[new] = value
    return out
