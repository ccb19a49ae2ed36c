# The README's two commands: `make demo` and `make test`. Everything they need is installed here.
# Two distributions live in this repository: the product (./, the `tripgenctl` wheel) and the
# sandbox (./sandbox, `tripgen-sandbox`), installed side by side in .venv, both editable.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Azurite (Microsoft's storage emulator, the backup store's test server) comes from the npm registry
# into the venv: 3.35.0 is the last release that runs on Node.js 20. Its version is part of the stamp.
AZURITE_VERSION := 3.35.0
AZURITE_DIR := $(VENV)/azurite
STAMP := $(VENV)/.installed-$(shell (cat pyproject.toml sandbox/pyproject.toml; echo azurite@$(AZURITE_VERSION)) | sha1sum | cut -c1-12)
DEMO_STATE ?= .demo

.PHONY: demo test test-unit venv wheels clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Every dependency is fetched once, as a wheel, into WHEELHOUSE, and installed from there: the
# packaging test installs the product wheel into a fresh venv from the same wheelhouse (no index,
# no second download). The two distributions' own wheels are not kept (they go stale); editables
# is what hatchling's editable build asks for.
WHEELHOUSE := $(VENV)/wheelhouse

$(STAMP): $(BIN)/python pyproject.toml sandbox/pyproject.toml
	rm -rf $(WHEELHOUSE)
	$(BIN)/python -m pip wheel --quiet -w $(WHEELHOUSE) '.[dev]' ./sandbox editables
	rm -f $(WHEELHOUSE)/tripgenctl-*.whl $(WHEELHOUSE)/tripgen_sandbox-*.whl
	$(BIN)/python -m pip install --quiet --no-index --find-links $(WHEELHOUSE) -e '.[dev]' -e ./sandbox
	npm install --silent --no-audit --no-fund --prefix $(AZURITE_DIR) azurite@$(AZURITE_VERSION)
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

# A fresh sandbox of its own each time (DEMO_STATE is wiped first), so a second run, or a run
# after someone played with the first one's data, walks the same runbook.
demo: $(STAMP)
	TRIPGEN_DEMO_STATE=$(DEMO_STATE) $(BIN)/python -m tripgen_sandbox.demo

# The suite spreads over TEST_WORKERS processes, a file per worker at a time (each worker has its
# own sandbox: module fixtures and a file's ordered tests stay together), longest files first and
# a few files of long independent tests split test by test (conftest.py: SLOW_FIRST, SPLIT_FILES;
# --no-loadscope-reorder keeps that order). Most of a test's time is
# waiting on pods and servers, so 4 workers fit a 2-core machine. A failed test runs again (up to
# twice): timing-bound e2e tests (leases, deadlines) can lose a race on a loaded 2-core machine;
# pytest's summary lists every rerun (-rR), so a flake stays visible.
TEST_WORKERS ?= 4

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --reruns 2 --reruns-delay 2 -rfER --durations=25 $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m 'not e2e and not packaging' $(PYTEST_ARGS)

wheels: $(STAMP)
	rm -rf dist
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation -w dist . ./sandbox

clean:
	-$(BIN)/tripgenctl sandbox stop --state-dir .sandbox 2>/dev/null
	-$(BIN)/tripgenctl sandbox stop --state-dir $(DEMO_STATE) 2>/dev/null
	rm -rf $(VENV) .sandbox $(DEMO_STATE) dist
