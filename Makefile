# The two commands of the README (`make run`, `make test`) and the checks CI runs.
# Everything installs into .venv from pyproject.toml, so a fresh machine needs only python3.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run fetch test lint types contracts check messages

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# With TELEGRAM_BOT_TOKEN (environment or .env): the live bot. Without: the sandbox, a local
# Bot API and a chat page on http://127.0.0.1:8080 (`newsbot run` itself refuses, exit 2).
run: $(STAMP)
	$(VENV)/bin/newsbot sandbox --live-if-token

test: $(STAMP)
	$(VENV)/bin/pytest -q -n 4 --dist worksteal

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(STAMP)
	$(VENV)/bin/mypy

contracts: $(STAMP)
	$(VENV)/bin/lint-imports

check: lint types contracts test

# Re-extract every _("...") and ngettext("...", "...", n) string and refresh the catalogs (see
# README, "Languages"). The catalogs keep their headers: Plural-Forms decides each language's
# plural rules. Fuzzy guesses are never compiled (tests/unit/test_i18n_catalogs.py fails on them).
messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k ngettext:1,2 -o views/locale/newsbot.pot --no-location --omit-header --sort-output bot handlers push views
	$(VENV)/bin/pybabel update -i views/locale/newsbot.pot -d views/locale -D newsbot --no-fuzzy-matching
	$(VENV)/bin/pybabel compile -d views/locale -D newsbot --statistics
