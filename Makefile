# Two entry points: `make demo` and `make test`. Both create .venv on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed: install python3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bastion --app examples.conduit.app:app db upgrade
	$(BIN)/bastion --app examples.conduit.app:app db seed
	$(BIN)/bastion run examples.conduit.app:app --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check bastion tests examples benchmarks docs
	$(BIN)/ruff format --check bastion

typecheck: $(STAMP)
	$(BIN)/mypy --strict bastion

unit: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test: lint typecheck unit

bench: $(STAMP)
	../shared/bench/run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

.PHONY: demo-chat
demo-chat: $(STAMP)
	$(BIN)/bastion run examples.chat.app:app --host 127.0.0.1 --port 8000
