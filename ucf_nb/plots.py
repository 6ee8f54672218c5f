"""The figures the notebooks show. Each function takes data, returns a matplotlib Figure.

The core modules never import this one: figures are the notebooks' business.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

__all__: list[str] = []  # each section appends its names

# --- index figures (01_index_checks) -------------------------------------------------------

# --- extraction figures (02_extract) -------------------------------------------------------

# --- probe figures (03_probe) --------------------------------------------------------------
