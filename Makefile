# The user's commands. `make help` lists them; README.md explains each.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two stamps. APP_STAMP: the app's own dependencies, all that `make run`, `token` and `eval`
# need. STAMP: those and the CDK and test tools (the infra and dev extras); the CDK runs on
# Node.js (jsii), so only the targets that need it ask for Node.js.
APP_STAMP := $(VENV)/.installed-app
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20
# Each stamp installs from the locks (`make lock` makes them from pyproject.toml): every
# package pinned with its hashes, so nothing unpinned comes in through a dependency
# (--no-deps), nothing is built from source (--only-binary), and a changed lock reinstalls
# only what changed. The app's own package goes on top, editable.
APP_LOCKS := requirements/app.txt requirements/eval.txt
DEV_LOCKS := requirements/infra.txt requirements/dev.txt
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
LOCKED_INSTALL := $(PIP_INSTALL) --require-hashes --no-deps --only-binary :all:

.PHONY: help
help: ## List every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(APP_STAMP): pyproject.toml $(APP_LOCKS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(LOCKED_INSTALL) $(addprefix -r ,$(APP_LOCKS))
	$(PIP_INSTALL) --no-deps -e .
	@touch $@

$(STAMP): $(APP_STAMP) $(DEV_LOCKS)
	@command -v node >/dev/null || { echo "Node.js is required (jsii runs the CDK on it); make run, token and eval need none" >&2; exit 1; }
	$(LOCKED_INSTALL) $(addprefix -r ,$(DEV_LOCKS))
	@# Message classes of Terraform's plugin protocol for the stand-in provider (into .make/).
	$(PY) -m infra.standin.stubs
	@# `make synth` runs python -O: write the optimized bytecode of what it imports now, even
	@# where PYTHONDONTWRITEBYTECODE is set, rather than compile ~200 modules at every synth.
	PYTHONDONTWRITEBYTECODE= $(PY) -O -c 'import infra.synth, infra.stack'
	@touch $@

.PHONY: venv
venv: $(STAMP) ## Create .venv from the locks requirements/*.txt (the pinned dependencies, with hashes)

# One command a line: .pre-commit-config.yaml has one hook for each (tests/test_pre_commit.py).
.PHONY: lint
lint: $(STAMP) ## ruff (lint and format check); mypy (strict: app, modules, infra); the locks are up to date with pyproject.toml
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/locks.py check

# UPGRADE=name (or "a b"): also move that package to its newest release that fits.
.PHONY: lock
lock: $(STAMP) ## Make the locks requirements/*.txt again from pyproject.toml (after changing a pin there)
	$(PY) scripts/locks.py compile $(addprefix --upgrade-package ,$(UPGRADE))

.PHONY: test
test: $(STAMP) test-deps lint ## Every test (installs what it needs first)
	$(PY) -m pytest -m "not soak" $(PYTEST_ARGS)

# The help line names each path removed and each kept (tests/infra/test_makefile_setup.py).
.PHONY: clean
clean: ## Remove cdktf.out (stacks, saved plans), .make, .pytest_cache, .ruff_cache; keep .venv, .venv-checkov, .local (app data)
	rm -rf cdktf.out .make .pytest_cache .ruff_cache

include make/*.mk
