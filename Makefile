# Everything runs from .venv, created here; nothing installed by hand counts.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The CPU build of torch; install it first so the project's torch requirement is already met
# and pip never pulls a multi-GB CUDA build onto a laptop.
TORCH_PIN ?= torch==2.13.0
# Quiet installs: no version check, and none of the "Location '...' is ignored" notes pip prints
# for each package that a configured local index (a pip.conf's find-links or file:// index)
# lacks; pip's own exit status still decides (pipefail).
SHELL := bash
.SHELLFLAGS := -o pipefail -c
PIP_INSTALL := $(PIP) install --quiet --disable-pip-version-check
PIP_QUIET := 2>&1 | { grep -v "' is ignored: it is neither a file nor a directory" || true; }

.PHONY: install run lint format test bench docker-test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip $(PIP_QUIET)
	$(PIP_INSTALL) $(TORCH_PIN) $(PIP_QUIET)
	$(PIP_INSTALL) -e '.[test]' $(PIP_QUIET)
	touch $@

install: $(VENV)/.installed

# Start the whole stack on the embedded default, generate one sample video, print where it is.
run: install
	$(VENV)/bin/t2v demo

# Style first: a lint or format failure fails the suite before any test runs.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest -q

bench: install
	$(PY) bench/overhead.py

# Build the images locally and run the CPU stack in containers (root or the docker group).
docker-test: install
	docker/smoke.sh

clean:
	rm -rf $(VENV) data
