# Two entry points for a fresh machine: `make test` (CPU, offline models) and `make run` (the bot).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Tests pin the CPU build of torch. `make run` on a machine with an NVIDIA driver lets pip choose the
# CUDA build instead; set TORCH_CONSTRAINTS yourself to override either choice.
TORCH_CONSTRAINTS ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,-c constraints/cpu.txt)

.PHONY: test run check-token lint format clean

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

run: check-token $(VENV)/.run-installed
	$(BIN)/lcm-bot run

# Say what is missing before a multi-GB install, not after; `lcm-bot run` checks it again, and
# every other setting too.
check-token:
	@if [ -z "$$DISCORD_TOKEN" ] && ! grep -Eqs '^[[:space:]]*DISCORD_TOKEN[[:space:]]*=[[:space:]]*[^[:space:]#]' .env; then \
		echo "error: DISCORD_TOKEN is not set. Create an application at https://discord.com/developers/applications, add a bot, copy its token into .env as DISCORD_TOKEN=... (cp .env.example .env first), then run make run again." >&2; \
		exit 2; \
	fi

format: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info
