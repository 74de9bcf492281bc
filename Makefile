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

# Debian packages the sandbox and the tests need, as command:package pairs: bubblewrap gives
# the kernel its namespaces, chromium renders the HTML transcript in the viewer tests.
# apt-get runs (after an update) only when one is missing; root or sudo is needed.
SYSTEM_PACKAGES := bwrap:bubblewrap chromium:chromium

system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq $$missing >/dev/null; fi

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
