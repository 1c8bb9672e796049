# Two commands for a user: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
DEMO_ARGS ?= --devices 20 --seconds 60

.PHONY: install demo test lint typecheck check clean

install: $(STAMP)

# Re-installs only when the project's dependencies change, so a second call is instant.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11+ (apt-get install python3 python3-venv) or run 'make PYTHON=python3.12 ...'" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[edge,cloud,train,dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/python -m cloud demo $(DEMO_ARGS) --keep-serving

test: install
	$(BIN)/python -m ruff check contract edge cloud firmware_sim models tests benchmarks
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/python -m ruff check contract edge cloud firmware_sim models tests benchmarks

typecheck: install
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
