"""The papermill engine ``ucf_nb``: our notebooks run by plain ``papermill``, quiet and watchable.

``papermill --engine ucf_nb notebooks/02_extract.ipynb out/02_train.ipynb -p split train`` runs
the notebook exactly as papermill's default engine (nbclient) does, with two differences:

- the kernel is started with CurveZMQ transport encryption (:func:`ucf_nb.report.pipeline.kernel_manager_class`,
  the kernel manager ``python -m ucf_nb.report`` uses): ipykernel's "Kernel is running over TCP
  without encryption" warning has nothing to warn about, and code and outputs are not sent in
  plain text over the local TCP ports;
- what the kernel writes to its stderr stream (the text progress bars of extraction, the seek
  scan and the MIL head, and warnings) is also written to papermill's own stderr, the terminal,
  as papermill's ``--stderr-file`` would. ``--log-output`` (everything, through papermill's
  logger) or an explicit ``--stderr-file`` take its place when given.

The engine is registered under papermill's ``papermill.engine`` entry point by this package's
install (``pyproject.toml``).
"""

from __future__ import annotations

import sys
from typing import Any

from papermill.engines import NBClientEngine

from .report.pipeline import kernel_manager_class

__all__ = ["UcfNbEngine"]


class UcfNbEngine(NBClientEngine):
    """papermill's nbclient engine with an encrypted kernel and the kernel's stderr on the terminal."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        **kwargs: Any,
    ) -> Any:
        kwargs.setdefault("kernel_manager_class", kernel_manager_class())
        if stderr_file is None and not log_output:
            stderr_file = sys.stderr
        return super().execute_managed_notebook(
            nb_man, kernel_name, log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file, **kwargs
        )
