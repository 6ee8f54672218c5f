"""``python -m ucf_nb.report run|prepare|build|extract ...`` (see :mod:`ucf_nb.report.book`)."""

import sys

from .book import main

sys.exit(main())
