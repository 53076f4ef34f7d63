# Mosaic CRM. On a fresh machine with Python 3.11: `make run` (embedded mode), `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run run-distributed migrate test test-unit bench clean

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	for plugin in plugins/*/; do $(BIN)/pip install --quiet --no-deps -e "$$plugin" || exit 1; done
	touch $(STAMP)

install: $(STAMP)

## the embedded mode: one process, SQLite under $$MOSAIC_DATA_DIR (./var), in-process broker
run: $(STAMP)
	$(BIN)/mosaic run

## the distributed mode: gateway, contacts and relay processes on PostgreSQL and RabbitMQ
run-distributed: $(STAMP)
	MOSAIC_MODE=distributed ./scripts/run-distributed.sh

migrate: $(STAMP)
	$(BIN)/mosaic migrate

## unit, integration (real PostgreSQL + RabbitMQ) and e2e (HTTP, both modes)
test: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

test-unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

## benchmarks: each prints its figure beside a baseline measured in the same run
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var bench/results .pytest_cache
