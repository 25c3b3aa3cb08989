# Two entry points: `make demo` and `make test`. Both create .venv on a fresh machine with only
# Python 3.11, installing exactly the versions pinned in uv.lock (`make lock` refreshes them).
PYTHON ?= python3.11
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
UV := .uv/bin/uv
STAMP := $(VENV)/.installed
# uv uses the interpreter named here and never downloads one of its own.
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint typecheck unit bench lock clean demo-chat

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed: install python3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv .uv
	.uv/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --locked: fail instead of resolving anew when pyproject.toml and uv.lock disagree.
# Bytecode for the libraries (pyproject's compile-bytecode) and for bastion itself, as an
# installed package has it: a start then compiles nothing, even under PYTHONDONTWRITEBYTECODE.
$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync --locked --extra dev --python $(PYTHON)
	$(BIN)/python -m compileall -q bastion
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bastion --app examples.conduit.app:app db upgrade
	$(BIN)/bastion --app examples.conduit.app:app db seed
	$(BIN)/bastion run examples.conduit.app:app --host 127.0.0.1 --port 8000

demo-chat: $(STAMP)
	$(BIN)/bastion run examples.chat.app:app --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check bastion tests examples benchmarks docs
	$(BIN)/ruff format --check bastion

typecheck: $(STAMP)
	$(BIN)/mypy --strict bastion

unit: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test: lint typecheck unit

# Re-resolve every dependency to the newest release pyproject.toml allows, then install it.
lock: $(UV)
	$(UV) lock --upgrade
	$(UV) sync --locked --extra dev --python $(PYTHON)
	touch $(STAMP)

# Current bytecode first: the harness's cold start should not time compiling what was edited.
bench: $(STAMP)
	$(BIN)/python -m compileall -q bastion benchmarks/bench_app.py
	../shared/bench/run

clean:
	rm -rf $(VENV) .uv .mypy_cache .ruff_cache .pytest_cache
