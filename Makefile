# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# requirements.txt (everything) includes the per-process sets in requirements/.
REQUIREMENTS := requirements.txt $(wildcard requirements/*.txt)
STAMP := $(VENV)/.installed-$(shell cat $(REQUIREMENTS) | cksum | cut -d' ' -f1)
# This is the development stack: DEBUG on (and the dev secrets allowed) unless the caller says
# otherwise. Cradle's settings default to DEBUG off, so production never runs with it by chance.
DEBUG ?= true
export DEBUG

.PHONY: install browser-deps run test lint bench

$(STAMP): $(REQUIREMENTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Starts embedded PostgreSQL + Redis unless DATABASE_URL / BROKER_URL are set, migrates,
# seeds the demo studio, then serves web + worker + scheduler (Procfile, through honcho).
run: install
	$(PY) -m studio_portal.devstack

# The browser journeys need Debian's Chromium and axe-core (npm). Installed when the machine
# allows it (root with apt, npm present); otherwise those tests skip and say what is missing.
browser-deps:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "Chromium not installed: browser tests will be skipped"; }
	@test -f .local/axe/node_modules/axe-core/axe.min.js || { command -v npm >/dev/null && \
		npm install --silent --no-audit --no-fund --prefix .local/axe axe-core@4 >/dev/null \
		|| echo "axe-core not installed: browser tests will be skipped"; }

# The architecture's import contracts (pyproject.toml, docs/ARCHITECTURE.md "Layers") and the
# types (mypy: the pipeline and the services; ~15 s from cold, less with its cache) first, then
# the suite.
test: install browser-deps
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(VENV)/bin/mypy
	$(PY) -m pytest -n 2

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(VENV)/bin/mypy

bench: install
	$(PY) manage.py bench pipeline --json
