"""The book: the notebooks run in order, the intro page, the book build, the command line.

- ``pipeline``  the notebooks run in order with papermill, cleaned for the book
- ``book``      the book's intro page and build; the ``python -m ucf_nb.report`` command line
- ``plots``     the figures the notebooks show

The package re-exports ``book``'s names (and its ``main``), so ``ucf_nb.report.build_book`` and
``python -m ucf_nb.report ...`` (ucf-nb 0.1) keep working.
"""

from __future__ import annotations

from .book import build_book, main, run_report, write_intro, write_intro_file  # noqa: F401 (main: ucf-nb 0.1's path)

__all__ = ["run_report", "write_intro", "write_intro_file", "build_book"]
