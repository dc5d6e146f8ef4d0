# Quick start: `make demo` and `make test`. Both create .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DEFAULT := $(abspath ../shared/data)
export RNNMOD_DATA ?= $(if $(wildcard $(DATA_DEFAULT)),$(DATA_DEFAULT),)

.PHONY: install demo test lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP)  # docs/performance.md; results in benchmarks/results/
	$(BIN)/python benchmarks/decompose_speed.py --quick --threads 1 --out benchmarks/results/decompose_speed.json
	$(BIN)/python benchmarks/composed_inference.py --threads 1
	$(BIN)/python benchmarks/composed_inference.py --threads 1 --mode unrolled
	$(BIN)/python benchmarks/decompose_scaling.py --threads 1
	if [ -d runs/tatoeba-lstm1 ]; then $(BIN)/python benchmarks/translate_decoding.py --threads 1; \
	else echo "bench: no runs/tatoeba-lstm1 (docs/translation.md trains it): decoding benchmark skipped"; fi

clean:
	rm -rf $(VENV) build dist *.egg-info
