# One command to set up and run a week end to end offline, one to set up and run the tests.
# Both create .venv on first use; torch is pinned to the CPU build that installs from local disk.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WEEK ?= week1

.PHONY: setup demo test

$(BIN)/forge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.13.0" -e ".[dev]"
	# RetNet's reference; --no-deps: see the dev extras in pyproject.toml
	$(BIN)/pip install --quiet --no-deps "torchscale==0.3.0"
	touch $@

setup: $(BIN)/forge

demo: setup
	$(BIN)/forge run $(WEEK)
	$(BIN)/forge results $(WEEK)
	$(BIN)/forge draft $(WEEK)
	$(BIN)/forge check $(WEEK)
	$(BIN)/forge build --drafts
	@echo "Open blog/site/index.html, or preview with: $(BIN)/forge serve"

test: setup
	$(BIN)/python -m pytest
