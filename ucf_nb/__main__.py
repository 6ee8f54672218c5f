"""``python -m ucf_nb`` (also the ``ucf-nb`` command): one entry point for the command lines.

::

    ucf-nb demo [OUT_DIR]                       # the demo dataset and encoders (python -m ucf_nb.demo)
    ucf-nb run [--demo DIR] [-p NAME=VALUE ...] # execute the notebooks, write the book's intro page
    ucf-nb prepare [--demo DIR] [-p ...]        # parameterised notebooks for Jupyter
    ucf-nb build                                # build the book's HTML
    ucf-nb extract --num-shards N [...]         # extraction as SLURM or local tasks
    ucf-nb export RUN_DIR DEST [...]            # features for the field's training code

Each subcommand hands its arguments, unchanged, to the command line it names: ``run``,
``prepare``, ``build`` and ``extract`` to :mod:`ucf_nb.report` (``python -m ucf_nb.report``),
``demo`` to :mod:`ucf_nb.demo`, ``export`` to :mod:`ucf_nb.evaluate.export`; ``ucf-nb
SUBCOMMAND --help`` shows its options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

REPORT_COMMANDS = ("run", "prepare", "build", "extract")
COMMANDS = {
    "demo": "write the demo dataset and its tiny encoders (python -m ucf_nb.demo)",
    "run": "execute the notebooks into the book and write its intro page (python -m ucf_nb.report run)",
    "prepare": "write the notebooks with parameters injected, for Jupyter (python -m ucf_nb.report prepare)",
    "build": "build the book's HTML from the executed notebooks (python -m ucf_nb.report build)",
    "extract": "extract splits as SLURM job arrays or local processes (python -m ucf_nb.report extract)",
    "export": "write a run's embeddings for the field's training code (python -m ucf_nb.export)",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the subcommand ``argv[0]`` with the arguments after it; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="ucf-nb",
        description="Clip-level embeddings of UCF-Crime from frozen video transformers.",
        epilog="`ucf-nb SUBCOMMAND --help` shows a subcommand's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for name, text in COMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    if not args or args[0] not in COMMANDS:
        parser.parse_args(args)  # prints the usage (--help) or the error naming the bad subcommand
        return 2
    command, rest = args[0], args[1:]
    if command == "demo":
        from .demo.make import main as demo_main  # each subcommand imports only its own stage

        demo_main(rest)
        return 0
    if command == "export":
        from .evaluate.export import main as export_main

        return export_main(rest)
    from .report.book import main as report_main

    return report_main([command, *rest])


if __name__ == "__main__":
    sys.exit(main())
