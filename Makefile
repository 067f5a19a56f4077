# Two entry points for a fresh machine: `make test` (CPU, offline models) and `make run` (the bot).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Tests pin the CPU build of torch. `make run` on a machine with an NVIDIA driver lets pip choose the
# CUDA build instead; set TORCH_CONSTRAINTS yourself to override either choice.
TORCH_CONSTRAINTS ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,-c constraints/cpu.txt)

.PHONY: test run lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.dev-installed: $(BIN)/python pyproject.toml constraints/cpu.txt
	$(BIN)/pip install --quiet -c constraints/cpu.txt -e '.[dev]'
	touch $@

$(VENV)/.run-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet $(TORCH_CONSTRAINTS) -e .
	touch $@

test: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

run: $(VENV)/.run-installed
	$(BIN)/lcm-bot run

format: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info
