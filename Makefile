# The two commands a newcomer needs: `make run` and `make test`. Every recipe calls ci/,
# so Jenkins, GitHub Actions and a laptop run the same steps.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
METRICS_PORT ?= 9100

.PHONY: run test lint unit integration clean bench mutation

$(BIN)/incident-tracker: pyproject.toml constraints.txt
	ci/bootstrap
	@touch $@

run: $(BIN)/incident-tracker ## serve on http://127.0.0.1:$(PORT) with the embedded SQLite file
	$(BIN)/incident-tracker db upgrade
	@echo "Incident Tracker: http://127.0.0.1:$(PORT)  (API under /api/v1, Ctrl-C stops)"
	@echo "Prometheus metrics: http://127.0.0.1:$(METRICS_PORT)/metrics"
	METRICS_PORT=$(METRICS_PORT) WEB_CONCURRENCY=$${WEB_CONCURRENCY:-2} \
	  $(BIN)/incident-tracker serve --bind 127.0.0.1:$(PORT)

test: ## everything CI checks, on a fresh machine too
	ci/test

bench: $(BIN)/incident-tracker ## benchmark + fault suite (SMOKE=1: a few seconds); see docs/performance.md
	ci/bench $(if $(SMOKE),--smoke)

mutation: $(BIN)/incident-tracker ## mutmut over the rule modules (MODULE=...: one); not part of test; see docs/testing.md
	ci/mutation $(MODULE)

lint: $(BIN)/incident-tracker
	ci/lint

clean:
	rm -rf $(VENV) .tools instance reports mutants .pytest_cache .mypy_cache .ruff_cache
