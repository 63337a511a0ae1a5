# Everything a fresh machine needs: `make demo` and `make test` create the
# virtual environment on first use and install serialsync into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,labgrid]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/serialsync demo

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks

test: $(VENV)/.installed
	$(BIN)/ruff check serialsync tests
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) serialsync-out .pytest_cache
