# Two commands on a fresh machine: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint audit bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "motcua needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/motcua run

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# The installed dependencies against the known vulnerabilities, from PyPI's advisory data
# (its JSON API; `-s osv` for OSV's). Not part of `lint`: it needs that service, and the CI
# machine reaches only the package index. --strict: a dependency it could not check fails the
# audit instead of passing unchecked.
audit: $(STAMP)
	$(BIN)/pip install --quiet pip-audit
	$(BIN)/pip-audit --strict --skip-editable --progress-spinner off

bench: $(STAMP)
	$(BIN)/python bench/lifecycle.py

clean:
	rm -rf $(VENV) .data
