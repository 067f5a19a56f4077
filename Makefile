# Two entry points for a fresh machine: `make test` (CPU, offline models) and `make run` (the bot).
# Both install from a lock (requirements/*.txt: every package, pinned, with hashes); `make lock`
# writes the locks from pyproject.toml.
# The locks are resolved for Python 3.11, the image's Python too.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Tests use the CPU lock. `make run` uses the CUDA lock on a machine with an NVIDIA driver and the CPU
# lock elsewhere; set LOCK=cpu or LOCK=cuda to choose.
LOCK ?= $(if $(shell command -v nvidia-smi 2>/dev/null),cuda,cpu)
# Both locks are for CPython 3.11 on Linux x86-64: the tests' interpreter and the image's.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml requirements/tools.in --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --generate-hashes --quiet \
	--custom-compile-command "make lock" $(LOCK_ARGS)

.PHONY: test run check-token lint format lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One venv holds one lock at a time: prune.py first removes what the lock does not list (and a
# torch build pip would keep), and installing a lock forgets the other's stamp. Hashes are
# required, so nothing unlisted can come in; the project itself is built with the locked setuptools
# (no isolated build fetching a newer one).
$(VENV)/.installed-%: requirements/%.txt pyproject.toml | $(BIN)/python
	$(BIN)/python requirements/prune.py requirements/$*.txt
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/$*.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

test: $(VENV)/.installed-cpu
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n auto --dist loadfile --durations=25

run: check-token $(VENV)/.installed-$(LOCK)
	$(BIN)/lcm-bot run

# Re-resolve both locks from pyproject.toml. Pins already in a lock are kept while they still fit;
# `make lock LOCK_ARGS=--upgrade` takes the newest of everything, `LOCK_ARGS='--upgrade-package X'`
# one package. The CUDA lock takes the CPU lock's versions for every package they share, so the
# image runs what the tests ran; the helper file that carries them is no input of the lock, so sed
# drops its path from the lock's annotations.
lock: $(VENV)/.installed-cpu
	$(UV_COMPILE) --extra dev --extra postgres --extra ray --constraint constraints/cpu.txt \
		-o requirements/cpu.txt
	grep -E '^[A-Za-z0-9]' requirements/cpu.txt | grep -v '^torch==' | cut -d' ' -f1 \
		> $(VENV)/cpu-pins.txt
	$(UV_COMPILE) --extra postgres --constraint constraints/cuda.txt \
		--constraint $(VENV)/cpu-pins.txt -o requirements/cuda.txt
	sed -i '/^    #   -c \.venv\/cpu-pins\.txt$$/d' requirements/cuda.txt

# Say what is missing before a multi-GB install, not after; `lcm-bot run` checks it again, and
# every other setting too.
check-token:
	@if [ -z "$$DISCORD_TOKEN" ] && ! grep -Eqs '^[[:space:]]*DISCORD_TOKEN[[:space:]]*=[[:space:]]*[^[:space:]#]' .env; then \
		echo "error: DISCORD_TOKEN is not set. Create an application at https://discord.com/developers/applications, add a bot, copy its token into .env as DISCORD_TOKEN=... (cp .env.example .env first), then run make run again." >&2; \
		exit 2; \
	fi

format: $(VENV)/.installed-cpu
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info
