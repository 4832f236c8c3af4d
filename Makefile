# LandShift: `make demo` runs the pipeline through Airflow on the embedded default; `make test` tests it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
SHARED_DATA ?= $(abspath $(CURDIR)/../shared/data)
PYSPARK_PIN := $(shell sed -n 's/^pyspark==//p' requirements.txt)

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export AIRFLOW__LOGGING__LOGGING_LEVEL := INFO
export AIRFLOW_CONN_SPARK_DEFAULT := {"conn_type": "spark", "host": "local[*]"}
export LANDSHIFT_LAKE_ROOT ?= $(CURDIR)/lake
export LANDSHIFT_SHARED_DATA := $(SHARED_DATA)
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)/include
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONUNBUFFERED := 1
export SPARK_LOCAL_IP := 127.0.0.1

.PHONY: demo test test-all lint evaluate bench e2e cluster-test airflow-init seed clean

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	# The Spark provider pulls pyspark-client, which overwrites part of pyspark: put the pinned one back.
	$(BIN)/pip install -q --force-reinstall --no-deps pyspark==$(PYSPARK_PIN)
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/python -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$(PYSPARK_PIN)')"
	touch $@

venv: $(BIN)/.installed

$(AIRFLOW_HOME)/.initialized: $(BIN)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -40 $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	$(BIN)/airflow pools set landshift_spark 2 "LandShift Spark jobs running at once" > /dev/null
	touch $@

airflow-init: $(AIRFLOW_HOME)/.initialized

seed: $(BIN)/.installed
	$(BIN)/landshift seed-demo $(SHARED_DATA)

demo: airflow-init seed
	$(BIN)/airflow dags test landshift_train -c '{"region": "nd-pothole"}' 2>&1 | tee $(AIRFLOW_HOME)/demo-train.log | grep -E "LandShift|Registered|ERROR|Traceback|DagRun Finished" ; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/airflow dags test landshift_region_nd-pothole -c '{"vintage": "2020"}' 2>&1 | tee $(AIRFLOW_HOME)/demo-region.log | grep -E "LandShift|Published|ERROR|Traceback|DagRun Finished" ; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/landshift products show nd-pothole 2020

test: airflow-init
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	if command -v npm > /dev/null; then bash tests/support/adls_double/install_azurite.sh; fi
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check include jobs plugins dags
	$(BIN)/lint-imports

evaluate: $(BIN)/.installed
	$(BIN)/landshift evaluate --out bench/evaluation.json --shared-data $(SHARED_DATA)

bench: $(BIN)/.installed
	$(BIN)/python bench/run_bench.py --out bench/results.json

e2e: airflow-init
	bash tests/e2e/install_browser.sh
	$(BIN)/python -m pytest -q -m e2e tests/e2e

# The compose deployment without Docker: Postgres, Airflow's four components and a Spark cluster.
cluster-test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m cluster tests/cluster $(PYTEST_ARGS)

clean:
	rm -rf $(AIRFLOW_HOME) lake bench/out
