# tokensim: `make demo` runs the main job, `make test` runs every test. Both set up first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ENGINE := $(VENV)/.engine-built

.PHONY: install check test lint demo up bench mutate schema lock clean

install: $(STAMP) $(ENGINE)

# Reproducible: every package at the version requirements.lock pins (made by `make lock`),
# then tokensim itself without resolving again.
$(STAMP): pyproject.toml lib/tokensim-token/pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e lib/tokensim-token -e '.[harness,dev]'
	touch $(STAMP)

# The virtual world's traffic engine in C (harness/virtual/_traffic.c; without a C compiler,
# runs take the Python reference, which gives the same results more slowly: docs/world.md).
$(ENGINE): $(STAMP) harness/virtual/_traffic.c harness/virtual/build_engine.py
	$(PY) -m harness.virtual.build_engine --stamp $(ENGINE)

# After changing dependencies in pyproject.toml: pin them again (and commit requirements.lock).
lock:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet pip-tools
	$(VENV)/bin/pip-compile --quiet --extra harness --extra dev --strip-extras \
		--no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

# The contributor's loop (under a minute on 2 cores): ruff, mypy, and every in-process test
# on both cores, leaving out the tests that take seconds each (marked long).
check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n 2 -m "not long" --ignore=tests/e2e

# Every test: the in-process ones on both cores, then the end-to-end runs (real processes,
# Locust, a browser, network namespaces) one at a time; the slowest 25 of each are printed.
test: install
	$(PY) -m pytest -n 2 --ignore=tests/e2e --durations=25
	$(PY) -m pytest tests/e2e --durations=25
	$(MAKE) --no-print-directory lint

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The main job: the runs that answer the thread's questions (real processes under Locust with
# short tokens, stickiness on and off; virtual time with the real 24 h lifetime: a week of
# faults, 3/10/50 publishers, autoscaling) and one report, reports/demo-<time>/report.html.
demo: install
	$(PY) -m harness demo

up: install
	$(PY) -m harness up

# Not part of `make test`: performance figures as ratios (needs Debian's wrk and haproxy).
bench: install
	$(PY) -m benchmarks

# Not part of `make test`: mutation testing (mutmut) over the token, crypto, file, log and edge
# code, each mutant against the tests that reach it; writes reports/mutation-<time>.md.
mutate: install
	rm -rf mutants
	started=$$(date +%s); \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/mutmut run --max-children 3 && \
	$(VENV)/bin/mutmut export-cicd-stats && \
	$(PY) -m tests.support.mutation_record $$started

schema: install
	$(PY) -m core.topology > topology.schema.json

clean:
	rm -rf $(VENV) .state reports mutants .pytest_cache .mypy_cache .ruff_cache
	rm -f harness/virtual/_traffic.*.so
