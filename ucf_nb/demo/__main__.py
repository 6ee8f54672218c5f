"""``python -m ucf_nb.demo OUT_DIR`` (see :mod:`ucf_nb.demo.make`)."""
from .make import main

main()
