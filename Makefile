# ucf-nb: the two commands a new user runs are `make demo` and `make test`.
PYTHON ?= python3
# Installed only when `import torch` fails. On a GPU server install the torch build you
# want first (or override: make demo TORCH_SPEC="torch==2.5.1").
TORCH_SPEC ?= torch==2.13.0
DEMO_DIR ?= demo
# pip's advice about running as root is noise on a GPU server or container run as root
export PIP_ROOT_USER_ACTION ?= ignore

.PHONY: install demo demo-data book lint test unit-test regold clean help

help:
	@echo "make demo   - demo dataset + encoder, run notebooks 00-04 (three encoder families), build the book"
	@echo "make test   - lint and types, unit tests and notebook regression tests"
	@echo "make lint   - ruff (lint) and mypy on ucf_nb/ and tests/"
	@echo "make book   - run the notebooks with their default (real-run) parameters and build the book"
	@echo "make regold - regenerate the golden notebooks under tests/golden/"

install: .make/installed

.make/installed: pyproject.toml
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	@echo "installing ucf-nb and its tools (pip install -e .[dev])"
	@$(PYTHON) -m pip install -q -e ".[dev]"
	@mkdir -p .make && touch $@

demo-data: install $(DEMO_DIR)/.made

# rewritten only when the code that makes it changes (it is deterministic)
$(DEMO_DIR)/.made: ucf_nb/demo/make.py ucf_nb/demo/synthetic.py ucf_nb/encoders/tiny.py
	@$(PYTHON) -m ucf_nb.demo $(DEMO_DIR)
	@touch $@

# Quiet: one line per step with its time, a progress bar while it runs, the book's path at the end.
demo: demo-data
	@$(PYTHON) -m ucf_nb.report run --demo $(DEMO_DIR)
	@$(PYTHON) -m ucf_nb.report build

book: install
	$(PYTHON) -m ucf_nb.report run
	$(PYTHON) -m ucf_nb.report build

# nbval on the golden notebooks: every output compared, except what sanitize.cfg lists.
NBVAL = --nbval --nbval-current-env --nbval-sanitize-with tests/golden/sanitize.cfg

# Lint (ruff) and types (mypy), configured in pyproject.toml.
lint: install
	$(PYTHON) -m ruff check ucf_nb tests
	$(PYTHON) -m ruff format --check ucf_nb tests benchmarks
	$(PYTHON) -m mypy

# Fast: the unit tests only (no notebook, no book build).
unit-test: install
	$(PYTHON) -m pytest tests -m "not slow"

# Unit tests, the book build, browser and determinism tests and the golden notebooks (nbval) in
# one pytest session; then the source notebooks on the demo data under nbval-lax (smoke).
# Any non-zero pytest exit fails make, exit 5 (no test collected) included.
test: lint demo-data
	$(PYTHON) -m pytest tests $(NBVAL)
	$(PYTHON) tests/golden_tools.py smoke --demo $(DEMO_DIR)

regold: demo-data
	$(PYTHON) tests/golden_tools.py regold --demo $(DEMO_DIR)

clean:
	rm -rf build book/_build book/executed book/intro.md .make
