# Set-up and checks on a fresh machine with Python 3.11+: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint bench pictures clean

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) -e '.[dev]'
	touch $@

$(VENV)/.demo: $(VENV)/.base
	$(PIP) -e '.[demo]'
	touch $@

demo: $(VENV)/.demo
	$(VENV)/bin/graphexec demo

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check graphexec tests examples benchmarks scripts
	$(VENV)/bin/mypy graphexec
	$(VENV)/bin/lint-imports
	$(PY) scripts/import_cycles.py
	$(PY) scripts/sz.py

test: lint
	$(PY) -m pytest -n 2 -q

bench: $(VENV)/.dev
	$(PY) benchmarks/executor_overhead.py
	$(PY) benchmarks/eager_overhead.py
	$(PY) benchmarks/optimizer.py

pictures: $(VENV)/.dev
	$(PY) scripts/pictures.py
	$(PY) scripts/padding_pictures.py
	$(PY) scripts/op_reference.py

clean:
	rm -rf $(VENV) build *.egg-info
