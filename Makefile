# The two commands of the README: `make demo` and `make test`. Both set up .venv on their own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-durations test-matrix lint typecheck unit bench check-live-view clean redis docs docs-serve docs-catalogs docs-review api-keys facades chromium cjk-fonts promtool

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,cli]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bkjob-async demo

test: $(STAMP) lint typecheck docs unit

lint: $(STAMP)
	$(BIN)/ruff check bkjob_async tests benchmarks docs/conf.py docs/_ext
	$(BIN)/ruff format --check bkjob_async tests benchmarks docs/conf.py docs/_ext

typecheck: $(STAMP)
	$(BIN)/mypy --strict bkjob_async

# Most of the suite waits (on sockets, child processes, redis-server), so six workers share
# the two cores well (pytest-xdist; measured on two cores at a load of 4-7 from other work:
# 286 s with six, 333 s with four, for the same CPU time give or take a worker's collection). --dist loadfile: each test file runs on one worker, in
# order, and builds its module fixtures once (loadgroup would not group: xdist 3.8 renames
# nodes through an attribute pytest 9 no longer reads). The long forms of the soak and crash
# loops (marked ``slow``) are left to `make test-slow`; each has a short form `make test` runs,
# as are the property tests' full counts of examples.
# The tests that hold a promise to a wall-clock deadline (a real terminal's first frame within
# 2 s, the dashboard's change on the page within 1 s of its event) scale it by the machine's
# measured slowdown (tests/load.py), so they run among the others. ALONE="FILES" runs those
# files on their own first instead (the suite's wall time grows by theirs).
PYTEST_WORKERS ?= 6
ALONE ?=

# The suite starts hundreds of Python processes (its workers, the command line, the docs'
# examples, worker processes): with bytecode not written (PYTHONDONTWRITEBYTECODE, as some
# shells and images set it) each one compiles the package and pytest rewrites every test module
# again, a third of a child's start and most of a worker's collection. The tests keep their
# bytecode under .venv/pycache instead, never beside the sources.
# On a first run (no .venv/pycache yet: a clean clone, CI) the package is compiled and one
# collection writes the rest of that bytecode before the workers start: otherwise all six
# compile the same modules and rewrite the same test modules at once, as the first children
# of the command line do (measured on two cores: 77 s of CPU for the workers' collection
# cold, 35 s warm, after 16 s for the one collection).
unit test-slow: export PYTHONDONTWRITEBYTECODE :=
unit test-slow: export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache

# Each run keeps every test file's seconds (.venv/test-durations.json), and the next run hands
# the longest files to the workers first (tests/conftest.py; --no-loadscope-reorder keeps that
# order, where xdist would put the files with the most tests first), so no long file starts
# last and runs on alone at the end; the end of the run names the slowest files, with their CPU
# time. A first run (a clean clone, CI) orders them by tests/durations.json, the seconds of
# every file above one as committed: `make test-durations` writes it from the last run's
# (take a second run's: on a first one the docs' browser checks may wait for the site's build).
unit: export BKJOB_TEST_DURATIONS := $(abspath $(VENV))/test-durations.json

# Each property test draws a quarter of its examples here (Hypothesis profile ``quick``,
# tests/properties.py), every one of them in `make test-slow` (``full``).
UNIT_ARGS := -q -m "not slow" --hypothesis-profile=quick

unit: $(STAMP) redis chromium promtool
	@test -d $(VENV)/pycache || { echo "compiling the bytecode of the suite (first run)"; \
	  $(BIN)/python -m compileall -q -j 0 bkjob_async >/dev/null; \
	  $(BIN)/pytest -q --collect-only -p no:cacheprovider $(UNIT_ARGS) >/dev/null || true; }
	$(if $(strip $(ALONE)),$(BIN)/pytest $(UNIT_ARGS) $(ALONE))
	$(BIN)/pytest $(UNIT_ARGS) -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	  $(addprefix --ignore=,$(ALONE))

test-durations:
	$(BIN)/python -c 'import json, sys; known = json.load(open(sys.argv[1])); \
	  print(json.dumps({k: round(v) for k, v in sorted(known.items()) if v >= 1}, indent=0))' \
	  $(VENV)/test-durations.json > tests/durations.json

test-slow: $(STAMP) redis
	$(BIN)/pytest -q -m slow
	$(BIN)/pytest -q -m "not slow" -k "hypothesis or pass_without_speedups" --hypothesis-profile=full

# The suite on every supported CPython found (on PATH, and in pyenv's versions folder): one
# virtualenv each under .nox/ (noxfile.py); a version not found is skipped, and nox says so.
PYENV_BINS := $(shell ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[0-9]*/bin 2>/dev/null | tr '\n' ':')

test-matrix: $(STAMP) redis
	PATH="$(PYENV_BINS)$$PATH" $(BIN)/nox -s tests oldest_redis

# The cluster tests start their own redis-server (never the system service). Installed here
# when missing and we are root; anyone else is told what to do, and those tests skip (or, with
# CI=true, fail).
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "redis-server is missing and this is not root with apt-get: install Redis 6.2+ (e.g." \
	      "'sudo apt-get install redis-server', 'brew install redis') so that redis-server is on" \
	      "PATH; until then the cluster tests are skipped (and fail under CI=true)."; \
	  fi; \
	}

# tests/cluster/test_cluster_metrics.py checks deploy/prometheus's rule file with promtool
# (Debian's prometheus package), installed here when missing and we are root; without it the
# rules are still parsed and checked against the metrics a real worker exports.
promtool:
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing promtool (apt-get install prometheus)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else \
	    echo "promtool is missing and this is not root with apt-get: install Prometheus's promtool"; \
	  fi; \
	}

# The docs site (docs/, Sphinx + furo + MyST) into docs/_build/html, strictly: every warning is
# an error (-W, all of them listed: --keep-going), every cross-reference must resolve (-n), and
# a public name without a docstring is a warning (docs/_ext/apiref.py). -E rereads every page,
# so a warning is never hidden by a page left unchanged since the last build.
DOCS_PORT ?= 8000

# Both languages, each as strictly: English into docs/_build/html, Chinese (the catalogs of
# docs/locale/zh_CN) into its zh_CN/ folder, where the language switch of every page links.
# Sphinx compiles each catalog (.po) to a .mo beside it when the .mo is older; they are
# deleted first, as a checkout can leave a .mo that looks newer than the .po it lags.
# Then the count of messages the Chinese site still shows in English (docs/_ext/catalogs.py):
# with --strict (the count reached 0) an untranslated or fuzzy message, or a page without a
# catalog, fails the build. DOCS_I18N= (empty) makes it report only, while a large page is translated.
# And the glossary (docs/_ext/glossary.py, its data docs/locale/<lang>/glossary.toml): with
# --strict a concept spelled two ways, a term outside it, an English word left bare, or the
# glossary page's tables out of date fail the build.
DOCS_LANGUAGES := zh_CN
DOCS_I18N := --strict

docs: $(STAMP)
	find docs/locale -name '*.mo' -delete  # compiled again from the .po: never a stale one
	rm -rf docs/_build/html  # no page of an earlier build left: the browser tests read this one
	$(BIN)/sphinx-build -E -W --keep-going -n -q -b html docs docs/_build/html
	$(foreach lang,$(DOCS_LANGUAGES),$(BIN)/sphinx-build -E -W --keep-going -n -q -b html \
	  -D language=$(lang) docs docs/_build/html/$(lang) &&) true
	$(foreach lang,$(DOCS_LANGUAGES),$(BIN)/python docs/_ext/catalogs.py --quiet \
	  --language $(lang) $(DOCS_I18N) &&) true
	$(foreach lang,$(DOCS_LANGUAGES),$(BIN)/python docs/_ext/glossary.py \
	  --language $(lang) $(DOCS_I18N) &&) true

# After an edit of an English page: extract its messages (the gettext builder) and merge them
# into each language's catalogs (sphinx-intl): a new message arrives untranslated, a changed
# one fuzzy. The generated API reference has no catalogs (its docstrings stay English).
# The keys each API's spelling sends (bkjob_async/_protocol/_keys.py), for the SDK-shaped calls;
# tests/unit/test_api_keys.py fails until this is run after a spelling changes its keys.
api-keys: $(STAMP)
	$(BIN)/python scripts/gen_api_keys.py

# The facades' generated methods (bkjob_async/client.py, bkjob_async/sync.py) from the endpoint
# table; tests/unit/test_facades.py fails until this is run after a row changes.
facades: $(STAMP)
	$(BIN)/python scripts/gen_facades.py

docs-catalogs: $(STAMP)
	rm -rf docs/_build/gettext
	$(BIN)/sphinx-build -E -q -b gettext docs docs/_build/gettext
	rm -rf docs/_build/gettext/reference/api
	$(BIN)/sphinx-intl update -p docs/_build/gettext -d docs/locale -w 0 \
	  $(addprefix -l ,$(DOCS_LANGUAGES))
	$(BIN)/python docs/_ext/catalogs.py $(addprefix --language ,$(DOCS_LANGUAGES))

# What a Chinese reader should review in a change: every message new or retranslated since
# REVIEW_BASE (main: a branch's change; on main, say REVIEW_BASE=HEAD~5), English beside Chinese.
REVIEW_BASE ?= main

docs-review: $(STAMP)
	$(foreach lang,$(DOCS_LANGUAGES),$(BIN)/python docs/_ext/catalogs.py \
	  --language $(lang) --review $(REVIEW_BASE) &&) true

docs-serve: docs
	@echo "serving the docs at http://127.0.0.1:$(DOCS_PORT)/ (Ctrl-C to stop)"
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory docs/_build/html $(DOCS_PORT)

# tests/e2e/test_docs_site.py opens the built docs in a real headless browser: Debian's
# chromium, installed here when missing and we are root, as redis-server is; anyone else is
# told what to do, and those tests skip (or, with CI=true, fail). The Chinese pages need a CJK
# font, or the browser draws boxes (tofu) for every character: Debian's fonts-noto-cjk, the
# same way (test_docs_i18n.py checks that the Chinese tutorial is drawn with one).
chromium: cjk-fonts
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing and this is not root with apt-get: install Chromium (e.g." \
	      "'sudo apt-get install chromium') so that chromium is on PATH; until then the" \
	      "browser checks of the docs are skipped (and fail under CI=true)."; \
	  fi; \
	}

cjk-fonts:
	@fc-list :lang=zh 2>/dev/null | grep -q . || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing fonts-noto-cjk (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; \
	  else \
	    echo "no CJK font is installed and this is not root with apt-get: install one (e.g." \
	      "'sudo apt-get install fonts-noto-cjk') so that the Chinese docs render in the" \
	      "browser checks; until then those checks are skipped (and fail under CI=true)."; \
	  fi; \
	}

bench: $(STAMP) redis
	$(BIN)/pytest -q -s benchmarks -o testpaths=benchmarks

check-live-view: $(STAMP)
	bash scripts/check-live-view.sh

clean:
	rm -rf $(VENV) docs/_build docs/reference/api .nox .mypy_cache .ruff_cache .pytest_cache .hypothesis .benchmarks
