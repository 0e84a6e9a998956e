# MS Pain & Migraine FAQ assistant. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# Rasa 3.6 runs on Python 3.10 at most. Keep in sync with pyproject.toml.
PYTHON_VERSION := 3.10
# python3.10 on PATH if it really runs (a pyenv shim may exist without it), else pyenv.
PYTHON := $(shell \
  if python$(PYTHON_VERSION) -c 'import sys' >/dev/null 2>&1; then command -v python$(PYTHON_VERSION); \
  elif command -v pyenv >/dev/null 2>&1; then PYENV_VERSION=$(PYTHON_VERSION) pyenv which python3 2>/dev/null; fi)

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL ?= 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONPATH := $(CURDIR)

SPACY_PIPELINE := var/spacy/en_ms_pain/meta.json
NODE_MODULES := node_modules/.package-lock.json
# Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
export CHROMIUM_PATH ?= /usr/bin/chromium
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null)

.PHONY: help install chromium run train validate test lint bench bench-load bench-console lock clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
	  echo "Python $(PYTHON_VERSION) is missing: Rasa 3.6 needs it. Install python$(PYTHON_VERSION)" \
	       "(e.g. 'pyenv install $(PYTHON_VERSION)' or your OS package) and try again." >&2; exit 1; fi
	@if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); fi
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip==24.2"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $@

$(SPACY_PIPELINE): $(VENV)/.installed bot/nlu/spacy_pipeline.py
	$(PY) -m bot.nlu.spacy_pipeline

# The widget's socket.io client and axe-core for the accessibility test, pinned by
# package-lock.json; `npm ci` installs exactly that.
$(NODE_MODULES): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: the chat widget needs" \
	  "Node.js 18+ with npm at install time (e.g. 'apt-get install nodejs npm')." >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed $(SPACY_PIPELINE) $(NODE_MODULES) ## Create .venv with Python 3.10 and install what is missing

chromium: ## Install Debian's Chromium for the browser tests if it is missing
	@if [ ! -x "$(CHROMIUM_PATH)" ]; then \
	  echo "Installing Chromium for the browser tests (apt-get install chromium)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y chromium >/dev/null || { $$SUDO apt-get update >/dev/null && \
	    $$SUDO apt-get install -y chromium >/dev/null; } || { echo "Could not install" \
	    "Chromium: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH=/path." >&2; \
	    exit 1; }; fi

validate: install ## Check the training data and domain (rasa data validate)
	$(PY) -m rasa data validate --fail-on-warnings

train: install ## Train the model if data or config changed (Rasa's fingerprint)
	$(PY) -m rasa train --out var/models

run: train ## Install, train if needed, start the bot :5005, actions :5055, demo :8000, console :8080
	$(PY) -m bot.serve

test: install chromium lint ## Install, lint and type-check, validate the data, run the whole test suite
	$(PY) -m rasa data validate --fail-on-warnings
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: install ## Ruff check (pydocstyle, Google convention), ruff format check, mypy on bot/ and actions/
	$(PY) -m ruff check bot actions tests benchmarks
	$(PY) -m ruff format --check bot actions tests benchmarks
	$(PY) -m mypy

bench: install ## NLU benchmark: accuracy vs a TF-IDF baseline, speed, memory; appends to docs/nlu-history.jsonl
	$(PY) benchmarks/nlu_bench.py $(BENCH_ARGS)

bench-load: install ## Rasa server under load beside Rasa's standard components: req/s, p50-p99, RSS, ready
	$(PY) benchmarks/load_bench.py $(BENCH_ARGS)

bench-console: install ## Staff console at 100,000 conversations (SQLite, and PostgreSQL if up)
	$(PY) benchmarks/console_bench.py $(BENCH_ARGS)

lock: ## Rewrite requirements.lock from the current .venv
	{ head -n 2 requirements.lock; $(PY) -m pip freeze --exclude-editable | grep -v '^-e'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean: ## Remove trained models and test output (keeps .venv and the database)
	rm -rf var/models var/test-results var/spacy
