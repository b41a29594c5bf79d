# Antre: the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
COMPOSE := docker compose -f deploy/compose.yaml --env-file deploy/.env

export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install test test-unit test-integration test-system lint run seed replay up down clean bench bench-queue broker-access demo

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade 'pip<26'
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed ## Create .venv and install Antre with its dev tools

test: $(BIN)/.installed ## Every test: unit, integration (local RabbitMQ), hostile input, browser, system
	$(BIN)/python -m pytest tests/unit tests/contract tests/integration tests/hostile tests/browser tests/system

test-unit: $(BIN)/.installed
	$(BIN)/python -m pytest tests/unit

test-integration: $(BIN)/.installed
	$(BIN)/python -m pytest tests/integration

test-system: $(BIN)/.installed ## Services as processes behind nginx, a day with restarts (needs nginx)
	$(BIN)/python -m pytest tests/system

lint: $(BIN)/.installed ## ruff, then the Dockerfile and compose checks
	$(BIN)/ruff check services tests examples scripts antre_devtools
	bash deploy/lint.sh
	bash deploy/lint-asyncapi.sh

run: $(BIN)/.installed ## The hall on http://localhost:8080/ (local RabbitMQ, nginx); docs/development.md
	PYTHON=$(BIN)/python bash deploy/run-local.sh $(RUN_SERVICES)

replay: $(BIN)/.installed ## Rebuild the reports from the stored events (reporting must run)
	$(BIN)/python -m services.reporting.cli replay

broker-access: $(BIN)/.installed ## Broker users for the catalog's agencies; new credentials in broker-credentials.json (0600)
	$(BIN)/python -m services.brokeraccess.cli sync --vhost / $(BROKER_ACCESS_ARGS)

seed: $(BIN)/.installed ## Load the sample catalog into the running catalog service
	$(BIN)/python -m services.catalog.cli import services/catalog/sample/banyuwangi.yaml

demo: $(BIN)/.installed ## Every service, the sample catalog and a simulated MPP day (~2-3 min); Ctrl-C stops all
	$(BIN)/python scripts/demo.py $(DEMO_ARGS)

bench: $(BIN)/.installed ## The benchmark (a few minutes): lifecycle, issuing, reporting ingest, 10^3 vs 10^5; last line JSON
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

bench-queue: $(BIN)/.installed ## Queue throughput and latency against a raw kombu round trip
	$(BIN)/python scripts/bench_queue.py $(BENCH_ARGS)

up: ## The whole system in Docker (needs deploy/.env; see deploy/.env.example)
	$(COMPOSE) up -d --build

down:
	$(COMPOSE) down

clean:
	rm -rf $(VENV) .pytest_cache
