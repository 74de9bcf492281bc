# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test setup system-packages lint typecheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# uv resolves with constraints/overrides.txt (see the comment there); pip cannot override
# a dependency's own requirement.
$(STAMP): pyproject.toml constraints/overrides.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check 'uv>=0.5'
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]' --override constraints/overrides.txt
	touch $(STAMP)

setup: $(STAMP)

# bubblewrap gives the sandbox its namespaces; installed when missing (root needed, as in CI).
system-packages:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "installing bubblewrap"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap >/dev/null; fi; }

demo: setup system-packages
	$(VENV)/bin/ace demo

lint: setup
	$(VENV)/bin/ruff check ace sandbox tests benchmarks
	$(VENV)/bin/ruff format --check ace sandbox tests benchmarks

typecheck: setup
	$(VENV)/bin/mypy

test: setup system-packages lint typecheck
	$(PY) -m pytest

bench: setup system-packages
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache
