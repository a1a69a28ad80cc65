# The two commands a new machine needs: `make run` and `make test` (Python 3.11+ and Node 20.19+).
PYTHON ?= python3
# bash with pipefail: a command piped into a filter still fails the recipe when it fails.
SHELL := bash
.SHELLFLAGS := -o pipefail -c
NPM ?= npm
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Test files run in parallel (loadfile keeps a file's module fixtures in one worker).
PYTEST_ARGS ?= -n 4 --dist loadfile

# The dashboard: web/ is built into the Python package, which serves it at /.
DASHBOARD := herald/static/index.html
NODE_STAMP := web/node_modules/.installed-stamp
WEB_LOCK := $(wildcard web/package-lock.json)
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	web/index.html web/vite.config.ts web/tsconfig.json web/package.json $(WEB_LOCK)

.PHONY: run test install lint format typecheck clean dashboard web-test api-client

# pip's own lines are the progress of the first install (about a minute and a half).
$(STAMP): pyproject.toml
	@echo "Installing Herald and its Python packages into $(VENV)..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]' | { grep --line-buffered -E '^(Collecting|Successfully)' || true; }
	touch $(STAMP)

install: $(STAMP)

$(NODE_STAMP): web/package.json $(WEB_LOCK)
	@command -v $(NPM) >/dev/null || { echo "Building the dashboard needs Node.js 20.19+ with npm (https://nodejs.org)." >&2; exit 1; }
	@echo "Installing the dashboard's build tools into web/node_modules..."
	cd web && if [ -f package-lock.json ]; then $(NPM) ci --no-audit --no-fund; else $(NPM) install --no-audit --no-fund; fi
	touch $(NODE_STAMP)

# Rebuilt when missing or older than any of its sources.
$(DASHBOARD): $(NODE_STAMP) $(WEB_SOURCES)
	cd web && $(NPM) run build
	touch $(DASHBOARD)

dashboard: $(DASHBOARD)

# exec: the recipe's shell is replaced, so Ctrl-C or SIGTERM reaches Herald alone, which stops cleanly.
run: install $(DASHBOARD)
	exec $(BIN)/herald run

web-test: $(NODE_STAMP)
	cd web && $(NPM) test

# The browser tests drive the built dashboard, so it is built (if stale) first.
test: install $(DASHBOARD) web-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# After changing the API: regenerate web/openapi.json and the dashboard's typed client from it.
api-client: install $(NODE_STAMP)
	$(BIN)/herald openapi --output web/openapi.json
	cd web && $(NPM) run api-client

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install $(NODE_STAMP)
	$(BIN)/mypy herald
	cd web && $(NPM) run typecheck

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache web/node_modules herald/static
