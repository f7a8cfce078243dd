# The two commands of the README:  `make run` (set up, then run the pipeline on the embedded default)
# and `make test` (set up, then lint and run the test suite). Both work on a fresh machine with Python 3.11 and Java 17.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup dev run test test-fast matrix lint jars clean

# What `make run` needs: swapvec with local Spark and Delta.
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,faiss]'
	touch $@

# What `make test` needs besides: pytest, ruff, and the libraries the tests drive (Airflow, MLflow, venv-pack).
dev: $(VENV)/.dev-installed

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: setup
	$(BIN)/swapvec run --config conf/local.yaml

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q -n 2 --dist worksteal --durations=15

# A developer's inner loop: the tests that start no Spark and take under a few seconds each (pytest markers in
# pyproject.toml name the rest).
test-fast: dev
	$(BIN)/pytest -q -n 2 -m "not spark and not slow"

# The compatibility matrix (.ci/matrix.py): swapvec installed into stand-ins for each platform (Spark 3.5 to the newest,
# Python 3.11 to 3.13, each Databricks LTS runtime's own packages) and run on the seed's case and the Lee sample.
# Needs python3.11, python3.12 and python3.13 on PATH.
matrix: dev
	$(BIN)/python .ci/matrix.py --jobs 2

# Fallback for machines where Spark's own resolver cannot fetch Delta: put the jars in .jars/ with Maven,
# then `export SWAPVEC_DELTA_JARS=$(PWD)/.jars`.
jars:
	mvn -q dependency:copy -Dartifact=io.delta:delta-spark_4.2_2.13:4.4.0 -DoutputDirectory=.jars
	mvn -q dependency:copy -Dartifact=io.delta:delta-storage:4.4.0 -DoutputDirectory=.jars

clean:
	rm -rf warehouse spark-warehouse .pytest_cache
