# The two Quickstart commands are `make run` and `make test`; .ci/run calls `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

DEPLOY_TOOLS := $(VENV)/.deploy-tools
BROWSER := $(VENV)/.browser

.PHONY: run test check lint format bench clean deploy-tools browser compose-smoke

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## The validators tests/deploy/ runs: kubectl (kustomize), Kubernetes schemas, compose, promtool.
deploy-tools: $(DEPLOY_TOOLS)
$(DEPLOY_TOOLS): $(STAMP) deploy/tools/requirements.txt deploy/tools/install.sh
	deploy/tools/install.sh $(BIN)
	touch $(DEPLOY_TOOLS)

## Debian's Chromium for the inbox's browser tests (Playwright drives it; nothing is downloaded).
browser: $(BROWSER)
$(BROWSER): $(STAMP) deploy/tools/install-browser.sh
	deploy/tools/install-browser.sh
	touch $(BROWSER)

## Install, start PostgreSQL/Redis if needed, run the whole pipeline and a demo (Ctrl-C stops).
run: $(STAMP)
	deploy/ensure-services.sh
	$(BIN)/wapipe up

## Install test dependencies and run lint, types and the whole test suite.
test: $(STAMP) $(DEPLOY_TOOLS) $(BROWSER)
	deploy/ensure-services.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

## Compare wapipe's speed with the naive pipeline: a table, bench/results/latest.json and
## bench/results/performance.png (about 6 minutes; BENCH_ARGS="--rounds 5 --scaling").
## Three lifecycle rounds by default: on a shared machine one pair can be far off.
BENCH_ARGS ?= --rounds 3
bench: $(STAMP)
	deploy/ensure-services.sh
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y wrk; }
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.compare $(BENCH_ARGS)

## Opt-in, needs a Docker engine: build, bring the compose stack up, send a batch to `read`.
compose-smoke:
	deploy/compose/smoke.sh

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .wapipe .pytest_cache .mypy_cache .ruff_cache
