# tokensim: `make demo` runs the main job, `make test` runs every test. Both set up first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test lint demo up bench schema clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(PY) -m pytest
	$(MAKE) --no-print-directory lint

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

demo: install
	$(PY) -m harness demo

up: install
	$(PY) -m harness up

# Not part of `make test`: performance figures as ratios (needs Debian's wrk and haproxy).
bench: install
	$(PY) -m benchmarks

schema: install
	$(PY) -m core.topology > topology.schema.json

clean:
	rm -rf $(VENV) .state reports .pytest_cache .mypy_cache .ruff_cache
