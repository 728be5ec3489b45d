# One-command set-up: every target below creates .venv and installs the pinned dependencies first.
#   make run MODEL=resnet50 SCENARIO=offline [MODE=accuracy] [BACKEND=auto|torch|onnxruntime|null]
#            [SYSTEM=auto|<name>] [FAST=1] [DEMO=1] [RUN_ARGS="..."]
#   make run_harness RUN_ARGS="--benchmarks=resnet50 --scenarios=offline --test_mode=AccuracyOnly"
#   make engines MODEL=resnet50 [SCENARIO=offline] [SYSTEM=...]      (TensorRT engines ahead of time)
#   make generate_engines RUN_ARGS="--benchmarks=resnet50 --scenarios=offline"
#   make selftest-gpu                  (needs a GPU and TensorRT: engines vs torch, then 30 s Offline runs)
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
# Type stubs for TensorRT's Python API: installed without their (NVIDIA-hosted) dependency, then patched.
TRT_STUBS_VERSION := 10.13.0.35.1
TRT_STUBS := $(VENV)/.tensorrt-stubs-$(TRT_STUBS_VERSION)

truthy = $(filter 1 yes true YES TRUE True,$(1))

.PHONY: venv run run_harness engines generate_engines selftest-gpu test lint typecheck clean bench-overhead bench-gpu

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

# SCENARIO given on the command line builds that scenario's engine; otherwise every scenario's.
engines: $(STAMP)
	$(PY) -m harness engines --model $(MODEL) --system $(SYSTEM) \
		$(if $(filter command line environment,$(origin SCENARIO)),--scenario $(SCENARIO)) \
		$(if $(call truthy,$(DEMO)),--demo) $(RUN_ARGS)

generate_engines: $(STAMP)
	$(PY) -m harness generate_engines $(RUN_ARGS)

selftest-gpu: $(STAMP)
	$(PY) -m harness.selftest_gpu $(RUN_ARGS)

$(TRT_STUBS): $(STAMP) scripts/patch_tensorrt_stubs.py
	$(PY) -m pip install --quiet --no-deps tensorrt-stubs==$(TRT_STUBS_VERSION)
	$(PY) scripts/patch_tensorrt_stubs.py
	@touch $@

# Benchmarks, not tests: they print ratios measured side by side.
bench-gpu: $(STAMP)
	$(PY) -m harness bench-gpu --model $(MODEL) --backend $(BACKEND) --system $(SYSTEM) $(RUN_ARGS)

# Bare LoadGen SUT vs the harness (null backend).
bench-overhead: $(STAMP)
	$(PY) -m harness bench-overhead $(RUN_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check harness models tests scripts

# The TensorRT backend is checked against TensorRT 10's API (the patched stubs): a call that
# TensorRT 10 removed, such as execute_async_v2 or Builder.build_engine, fails here.
typecheck: $(STAMP) $(TRT_STUBS)
	$(PY) -m mypy harness models

test: $(STAMP) lint typecheck
	$(PY) -m pytest -q tests

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
