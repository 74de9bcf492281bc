# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test setup system-packages local lint typecheck bench clean

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

# The offline model (`--model local`): llama-cpp-python compiles llama.cpp (a C++ compiler is
# needed; 5-17 minutes on 2 cores). The wheel is built once per machine into a wheelhouse
# beside the model cache (~/.cache/ace, or $ACE_CACHE_DIR), so every later clone and CI run
# installs it in seconds; the 1.1 GB model is pulled once into its models/ folder. The pin is
# read from pyproject.toml's `local` extra. Skipped without a compiler.
ACE_CACHE := $(or $(ACE_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ace)
WHEELHOUSE := $(ACE_CACHE)/wheels
LLAMA_CPP := $(shell sed -n 's/.*"\(llama-cpp-python\)\[server\]\(==[0-9.]*\)".*/\1\2/p' pyproject.toml)
LLAMA_WHEEL := $(subst ==,-,$(subst -,_,$(LLAMA_CPP)))
LOCAL_STAMP := $(VENV)/.installed-local
$(LOCAL_STAMP): $(STAMP)
	@if command -v c++ >/dev/null 2>&1; then \
	  if ! ls $(WHEELHOUSE)/$(LLAMA_WHEEL)-*.whl >/dev/null 2>&1; then \
	    echo "building $(LLAMA_CPP) once for this machine into $(WHEELHOUSE) (several minutes)"; \
	    mkdir -p $(WHEELHOUSE) && build=$$(mktemp -d $(WHEELHOUSE)/.build.XXXXXX) && \
	    nice -n 10 $(PY) -m pip wheel --quiet --no-deps --disable-pip-version-check \
	      --wheel-dir $$build '$(LLAMA_CPP)' && mv $$build/*.whl $(WHEELHOUSE)/; \
	    status=$$?; rm -rf $$build; [ $$status = 0 ] || exit $$status; \
	  fi; \
	  $(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev,local]' \
	    --override constraints/overrides.txt --find-links $(WHEELHOUSE) && touch $(LOCAL_STAMP); \
	else echo "no C++ compiler: skipping the local model (apt-get install g++ to enable it)"; fi

local: $(LOCAL_STAMP)
	@if [ -f $(LOCAL_STAMP) ]; then $(VENV)/bin/ace model pull; fi

demo: setup system-packages local
	$(VENV)/bin/ace demo

lint: setup
	$(VENV)/bin/ruff check ace sandbox tests benchmarks
	$(VENV)/bin/ruff format --check ace sandbox tests benchmarks

typecheck: setup
	$(VENV)/bin/mypy

test: setup system-packages local lint typecheck
	$(PY) -m pytest

bench: setup system-packages
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache
