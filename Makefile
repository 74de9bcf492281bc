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
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev,service,mcp,langchain,browser-use,ray]' --override constraints/overrides.txt
	touch $(STAMP)

setup: $(STAMP)

# Debian packages the sandbox and the tests need, as command:package pairs (a name starting
# with "lib" is a shared library, looked up with ldconfig): bubblewrap gives the kernel its
# namespaces, libseccomp compiles its seccomp filter, chromium renders the HTML transcript
# in the viewer tests and is the browser browser-use drives (never a downloaded one),
# postgresql is the server the service-store tests start (its binaries live in
# /usr/lib/postgresql/<version>/bin, off PATH, so the server's path is looked up here).
# apt-get runs (after an update) only when one is missing; root or sudo is needed.
SYSTEM_PACKAGES := bwrap:bubblewrap libseccomp.so.2:libseccomp2 chromium:chromium \
	$(or $(firstword $(wildcard /usr/lib/postgresql/*/bin/postgres)),postgres):postgresql

system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do name="$${pair%%:*}"; \
	  case "$$name" in lib*) /sbin/ldconfig -p | grep -q "$$name" ;; *) command -v "$$name" >/dev/null 2>&1 ;; esac \
	    || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq $$missing >/dev/null; fi

# The offline model (`--model local`). `python -m ace.local_model._build` compiles
# llama-cpp-python (the `local` extra's pin) once per machine with a portable recipe
# (GGML_NATIVE=OFF, an explicit AVX2/FMA/F16C or SSE4.2 baseline, never AVX-512 or AMX: native
# builds crashed on CPUs with AMX) into a wheelhouse beside the model cache (~/.cache/ace, or
# $ACE_CACHE_DIR), with the recipe in the wheel's version (0.3.36+ace.r2.avx2), so a changed
# recipe rebuilds and an old build in .venv is replaced; it installs the wheel when the
# installed version differs. Then the 1.1 GB model is pulled once and a one-token check
# proves the library runs on this CPU (remembered per build). Skipped without a compiler.
ACE_CACHE := $(or $(ACE_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ace)
WHEELHOUSE := $(ACE_CACHE)/wheels

local: setup
	@$(PY) -m ace.local_model._build --wheelhouse $(WHEELHOUSE)
	@if $(PY) -c 'import importlib.util as u, sys; sys.exit(u.find_spec("llama_cpp") is None)'; then \
	  $(VENV)/bin/ace model pull && $(VENV)/bin/ace model check; fi

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
