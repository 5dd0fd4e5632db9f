# Everything runs from .venv, created here; nothing installed by hand counts.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The CPU build of torch; install it first so the project's torch requirement is already met
# and pip never pulls a multi-GB CUDA build onto a laptop.
TORCH_PIN ?= torch==2.13.0

.PHONY: install run lint format test bench docker-test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_PIN)
	$(PIP) install --quiet -e '.[test]'
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
