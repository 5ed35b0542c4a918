# The two commands of the README: `make demo` (main job) and `make test` (the suite; .ci/run calls it).
# Both set up everything on a fresh machine: a virtual environment with the package and its dependencies.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench system-tools

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

# Debian tools the tests use when present (DICOM validator) and the benchmark needs (peers).
system-tools:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dicom3tools $(EXTRA_APT)) >/dev/null 2>&1 \
	  || echo "note: could not install Debian tools ($(EXTRA_APT) dicom3tools); tests needing them will skip"; \
	fi

demo: setup
	$(VENV)/bin/igrt demo --out igrt-demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup system-tools lint
	$(PY) -m pytest

bench: EXTRA_APT = plastimatch elastix
bench: setup system-tools
	$(PY) -m pip install --quiet -e ".[test,bench]"
	$(PY) bench/run_bench.py
