# One-command set-up: every target below creates .venv and installs the pinned dependencies first.
#   make run MODEL=resnet50 SCENARIO=offline [MODE=accuracy] [BACKEND=auto|torch|onnxruntime|null]
#            [SYSTEM=auto|<name>] [FAST=1] [DEMO=1] [RUN_ARGS="..."]
#   make run_harness RUN_ARGS="--benchmarks=resnet50 --scenarios=offline --test_mode=AccuracyOnly"
#   make report [SYSTEM=<name>] [REPORT_ARGS="--results-dir results"]   (results pages; docs/pages.md)
#   make system [SYSTEM=<name>]   (write results/systems/<name>.json for you to complete)
#   make compliance MODEL=resnet50 SCENARIO=offline [TEST=TEST01,TEST04] [RUN_ARGS="--results-dir results"]
#            (the round's compliance tests, checked against the cell's latest performance run)
#   make submission SUBMITTER=<org> [DIVISION=closed] [OUT=submission] [RUN_ARGS="--results-dir results"]
#            (an MLPerf submission tree from the latest complete runs; docs/submission.md)
#   make engines MODEL=resnet50 [SCENARIO=offline] [SYSTEM=...]      (TensorRT engines ahead of time)
#   make generate_engines RUN_ARGS="--benchmarks=resnet50 --scenarios=offline"
#   make selftest-gpu                  (needs a GPU and TensorRT: engines vs torch, then 30 s Offline runs)
#   make nightly [MATRIX=cpu|<system>] [NIGHTLY_ARGS="--store postgresql://... --box NAME"]  (docs/nightly.md)
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
TEST ?=
SUBMITTER ?=
DIVISION ?= closed
OUT ?= submission
MATRIX ?= cpu
NIGHTLY_ARGS ?=
CHROMIUM ?= chromium
# Type stubs for TensorRT's Python API: installed without their (NVIDIA-hosted) dependency, then patched.
TRT_STUBS_VERSION := 10.13.0.35.1
TRT_STUBS := $(VENV)/.tensorrt-stubs-$(TRT_STUBS_VERSION)

truthy = $(filter 1 yes true YES TRUE True,$(1))

.PHONY: venv run run_harness report system compliance submission browser engines generate_engines selftest-gpu nightly \
	test lint typecheck clean bench-overhead bench-gpu

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
	$(PY) -m harness system $(if $(filter-out auto,$(SYSTEM)),--name $(SYSTEM)) $(RUN_ARGS)

compliance: $(STAMP)
	$(PY) -m harness compliance --model $(MODEL) --scenario $(SCENARIO) $(if $(TEST),--test $(TEST)) \
		$(if $(filter-out auto,$(SYSTEM)),--system $(SYSTEM)) $(RUN_ARGS)

submission: $(STAMP)
	@test -n "$(SUBMITTER)" || { echo "make submission needs SUBMITTER=<your organisation>" >&2; exit 2; }
	$(PY) -m harness submission --submitter $(SUBMITTER) --division $(DIVISION) --out $(OUT) \
		$(if $(filter-out auto,$(SYSTEM)),--system $(SYSTEM)) $(RUN_ARGS)

# The page tests load every page kind in a real headless browser: Debian's chromium, installed when missing.
browser:
	@command -v $(CHROMIUM) >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the page tests (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else \
		echo "chromium is missing: install it (sudo apt-get install chromium) or set HARNESS_CHROMIUM" >&2; \
	fi

# SCENARIO given on the command line builds that scenario's engine; otherwise every scenario's.
engines: $(STAMP)
	$(PY) -m harness engines --model $(MODEL) --system $(SYSTEM) \
		$(if $(filter command line environment,$(origin SCENARIO)),--scenario $(SCENARIO)) \
		$(if $(call truthy,$(DEMO)),--demo) $(RUN_ARGS)

generate_engines: $(STAMP)
	$(PY) -m harness generate_engines $(RUN_ARGS)

selftest-gpu: $(STAMP)
	$(PY) -m harness selftest-gpu $(RUN_ARGS)

# A box's nightly matrix (configs/nightly/$(MATRIX).yaml). make turns every failing exit code into 2: cron and
# CI jobs that alert on 1 (regressed) versus 2 (bad input) call `python -m harness nightly` directly.
nightly: $(STAMP)
	$(PY) -m harness nightly --matrix $(MATRIX) $(NIGHTLY_ARGS)

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

test: $(STAMP) lint typecheck browser
	$(PY) -m pytest -q tests

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
