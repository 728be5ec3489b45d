# One-command set-up: every target below creates .venv and installs the pinned dependencies first.
#   make run MODEL=resnet50 SCENARIO=offline [MODE=accuracy] [BACKEND=auto|torch|onnxruntime|null]
#            [SYSTEM=auto|<name>] [FAST=1] [DEMO=1] [RUN_ARGS="..."]
#   make run_harness RUN_ARGS="--benchmarks=resnet50 --scenarios=offline --test_mode=AccuracyOnly"
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

truthy = $(filter 1 yes true YES TRUE True,$(1))

.PHONY: venv run run_harness test lint typecheck clean bench-overhead

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

# A benchmark, not a test: bare LoadGen SUT vs the harness (null backend), ratios printed.
bench-overhead: $(STAMP)
	$(PY) -m harness bench-overhead $(RUN_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check harness models tests scripts

typecheck: $(STAMP)
	$(PY) -m mypy harness models

test: $(STAMP) lint typecheck
	$(PY) -m pytest -q tests

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
