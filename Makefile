# The two set-up commands of the README: `make demo` and `make test`. Each creates .venv on first use.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/livello-sync demo

# Two workers (pytest-xdist): the suite takes about 7.5 min on 2 cores instead of 19 serially; a third worker
# on 2 cores gains nothing (447 s vs 451 s). Every test uses its own ports, directories and PostgreSQL database.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache *.duckdb
