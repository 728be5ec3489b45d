# One-command set-up: every target below creates .venv and installs the pinned dependencies first.
#   make run MODEL=resnet50 SCENARIO=offline [MODE=accuracy] [BACKEND=auto|torch|onnxruntime|null]
#            [SYSTEM=auto|<name>] [FAST=1] [DEMO=1] [RUN_ARGS="..."]
#   make run_harness RUN_ARGS="--benchmarks=resnet50 --scenarios=offline --test_mode=AccuracyOnly"
#   make report [SYSTEM=<name>] [REPORT_ARGS="--results-dir results"]   (results pages; docs/pages.md)
#   make system [SYSTEM=<name>]   (write systems/<name>.json for you to complete)
#   make test

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

MODEL ?= resnet50
SCENARIO ?= offline
MODE ?= performance
BACKEND ?= auto
SYSTEM ?= auto
FAST ?=
DEMO ?=
RUN_ARGS ?=
REPORT_ARGS ?=
CHROMIUM ?= chromium

truthy = $(filter 1 yes true YES TRUE True,$(1))

.PHONY: venv run run_harness report system browser test lint typecheck clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	@touch $@

run: $(STAMP)
	$(PY) -m harness run --model $(MODEL) --scenario $(SCENARIO) --mode $(MODE) --backend $(BACKEND) \
		--system $(SYSTEM) $(if $(call truthy,$(FAST)),--fast) $(if $(call truthy,$(DEMO)),--demo) $(RUN_ARGS)

run_harness: $(STAMP)
	$(PY) -m harness run_harness $(RUN_ARGS)

report: $(STAMP)
	$(PY) -m harness report $(if $(filter-out auto,$(SYSTEM)),--system $(SYSTEM)) $(REPORT_ARGS)

system: $(STAMP)
	$(PY) -m harness system $(if $(filter-out auto,$(SYSTEM)),--name $(SYSTEM))

# The page tests load every page kind in a real headless browser: Debian's chromium, installed when missing.
browser:
	@command -v $(CHROMIUM) >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the page tests (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else \
		echo "chromium is missing: install it (sudo apt-get install chromium) or set HARNESS_CHROMIUM" >&2; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check harness models tests scripts

typecheck: $(STAMP)
	$(PY) -m mypy harness models

test: $(STAMP) lint typecheck browser
	$(PY) -m pytest -q tests

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
