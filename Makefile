# The README's two commands, `make demo` and `make test`; each sets up .venv on its own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check stress test-slow test-durations coverage test-matrix lint typecheck unit \
	quick bench check-live-view clean tools redis docs docs-serve docs-catalogs docs-review api-keys facades chromium cjk-fonts promtool

# pip first: it installs the test tools' dependency group (pyproject's [dependency-groups]).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet -e '.[cli]' --group dev
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bkjob-async demo

# lint, types, the docs' strict build and the suite side by side: mypy and each language's
# Sphinx use one core each, and the suite's workers wait on sockets and child processes for
# two thirds of their time (1,047 s of tests, 381 s of CPU): before it, they left a core idle
# for a minute and more. The docs' browser checks wait for the build (tests/e2e/docs_build.py).
# SUITE=coverage: the suite traced whole, held to COMBINED_FLOOR (`make coverage`).
SUITE ?= unit

test: $(STAMP)
	@$(MAKE) --no-print-directory -j4 lint typecheck docs $(SUITE)

# The inner loop, under two minutes: lint, types, and the tests of tests/unit and
# tests/functional (no socket servers, Redis, browser or docs build), untraced, but for the
# files over QUICK_FILE_SECONDS in tests/durations.json (`make test` runs them): 16 of 130
# files, two thirds of those directories' seconds (in a fresh clone's `make stress` of 16dd8d9).
check: $(STAMP) lint typecheck quick

lint: $(STAMP)
	$(BIN)/ruff check bkjob_async tests benchmarks docs/conf.py docs/_ext scripts
	$(BIN)/ruff format --check bkjob_async tests benchmarks docs/conf.py docs/_ext scripts

typecheck: $(STAMP)
	$(BIN)/mypy --strict bkjob_async

# The suite but its `slow` tests, on PYTEST_WORKERS workers: one a core (`nproc`), as more
# only share the same cores and stretch every test's wall time. A test file each, longest first
# by .venv/test-durations.json, else tests/durations.json; the heaviest e2e files (a browser,
# the docs' blocks: tests/conftest.py's APART) one after another on one worker, beside the
# rest. ALONE="FILES" runs those files first, on their own. Bytecode goes under .venv/pycache,
# written once before the workers start.
# One pass, under branch coverage (pyproject's [tool.coverage.*], its floor; the total on one
# line) but for the tests marked `untraced`, which run with the tracer paused, their fixtures
# too, in the files after those with traced tests (tests/conftest.py): as two passes did
# (traced, then untraced), without the second pass's start (a collection of the whole suite
# on every worker) and its own idle tail.
# `make coverage`: every test traced, the `untraced` ones and the Python processes they start
# too (tests/conftest.py, BKJOB_TEST_TRACE_ALL), a test 180 s: the whole suite's branch
# coverage by module, held to COMBINED_FLOOR. COVERAGE= turns the tracer off.
# A test past its timeout fails with its stack; a hang its timeout cannot end (a fixture's
# teardown, a worker's end) ends that worker with every thread's stack (tests/hangs.py).
PYTEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
ALONE ?=
UNIT_ARGS := -q --hypothesis-profile=quick
COVERAGE ?= --cov --cov-report=
# `make coverage`'s floor: the whole suite's branch coverage, 94.15% on 2026-11-28.
COMBINED_FLOOR ?= 92
TRACED_TIMEOUT ?= 180
XDIST = -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

coverage: COVERAGE := --cov --cov-report=term:skip-covered --cov-fail-under=$(COMBINED_FLOOR) \
  --timeout=$(TRACED_TIMEOUT)
coverage: export BKJOB_TEST_TRACE_ALL := 1
coverage: unit

unit quick test-slow: export PYTHONDONTWRITEBYTECODE :=
unit quick test-slow: export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache
unit quick: export BKJOB_TEST_DURATIONS := $(abspath $(VENV))/test-durations.json

unit: $(STAMP) tools
	@test -d $(VENV)/pycache || { echo "compiling the bytecode of the suite (first run)"; \
	  $(BIN)/python -m compileall -q -j 0 bkjob_async >/dev/null; \
	  $(BIN)/pytest -q --collect-only -p no:cacheprovider $(UNIT_ARGS) >/dev/null || true; }
	$(if $(strip $(ALONE)),$(BIN)/pytest $(UNIT_ARGS) -m "not slow" $(ALONE))
	$(BIN)/pytest $(UNIT_ARGS) -m "not slow" $(COVERAGE) $(XDIST) $(addprefix --ignore=,$(ALONE))

# `make check`'s tests: tests/unit and tests/functional, untraced, on PYTEST_WORKERS workers,
# the files over QUICK_FILE_SECONDS left out (QUICK_FILE_SECONDS=: none).
QUICK_FILE_SECONDS ?= 5
quick: export BKJOB_TEST_FILE_LIMIT := $(QUICK_FILE_SECONDS)
quick: $(STAMP)
	$(BIN)/pytest $(UNIT_ARGS) -m "not slow and not untraced" $(XDIST) tests/unit tests/functional

# `make test` (STRESS_TARGET: any other target) beside a CPU hog, `yes > /dev/null` on one
# core, stopped at the end whatever the result: a test that passes only on an idle machine
# fails here.
STRESS_TARGET ?= test

stress: $(STAMP)
	@yes >/dev/null & hog=$$!; trap 'kill $$hog 2>/dev/null' EXIT INT TERM; \
	  echo "a CPU hog (yes, pid $$hog) runs beside make $(STRESS_TARGET)"; \
	  $(MAKE) --no-print-directory $(STRESS_TARGET)

# tests/durations.json, the seconds of every test file above one, from the last run.
test-durations:
	$(BIN)/python -c 'import json, sys; known = json.load(open(sys.argv[1])); \
	  print(json.dumps({k: round(v) for k, v in sorted(known.items()) if v >= 1}, indent=0))' \
	  $(VENV)/test-durations.json > tests/durations.json

# The long forms of the soak and crash loops, and every property test's full count of examples,
# both on PYTEST_WORKERS workers (the loops ran on one, the other core idle, for most of CI's
# slow step; a test each, not a file each: four of the 16 loops are test_deployment_faults',
# each with its own deployments): a loop that holds only on an idle machine is a finding.
# Each loop's count is sized to what it finds, its reason beside it (`RUNS` in
# tests/cluster/test_rollback.py and test_deployment_faults.py: five runs of each fault, 40
# of the 80 fault runs that took two thirds of the step's test seconds).
test-slow: $(STAMP) redis
	$(BIN)/pytest -q -m slow -n $(PYTEST_WORKERS) --dist load
	$(BIN)/pytest -q -m "not slow" -k "hypothesis or pass_without_speedups" --hypothesis-profile=full \
	  $(XDIST)

# The suite on every supported CPython found (on PATH and in pyenv's versions), by nox.
PYENV_BINS := $(shell ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[0-9]*/bin 2>/dev/null | tr '\n' ':')

test-matrix: $(STAMP) redis
	PATH="$(PYENV_BINS)$$PATH" $(BIN)/nox -s tests oldest_redis

# The system tools some tests use, installed with apt-get when missing and we are root; anyone
# else is told what to install, and those tests skip (or fail, with CI=true). `make tools` (what
# `make unit` needs) checks them all and installs the missing ones in one apt-get call: on a
# fresh machine one `apt-get update`, not one a tool (each took 10-30 s). Each apt-get call
# waits its turn: two makes at once on a fresh machine (a clone's `make test` beside another
# checkout's) failed on apt's lock, which `apt-get update` does not wait for (apt 2.6).
APT_GET := flock /var/lock/bkjob-async-apt apt-get -o DPkg::Lock::Timeout=600
APT := DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq
# Each tool, ` ~ ` between: the check that it is there, its Debian package (`lean:`: without
# its recommends), what it is.
TOOL_redis := command -v redis-server ~ redis-server ~ redis-server (Redis 6.2+)
TOOL_promtool := command -v promtool ~ lean:prometheus ~ promtool
TOOL_chromium := command -v chromium || command -v chromium-browser ~ chromium ~ chromium
TOOL_cjk-fonts := fc-list :lang=zh | grep -q . ~ fonts-noto-cjk ~ a CJK font

define needs
@missing=""; for tool in $(foreach t,$(1),'$(TOOL_$(t))'); do \
  check=$${tool%% ~ *}; rest=$${tool#* ~ }; package=$${rest%% ~ *}; what=$${rest#* ~ }; \
  { eval "$$check"; } >/dev/null 2>&1 && continue; \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then missing="$$missing $$package"; \
  else echo "$$what is missing: install $${package#lean:} (apt-get, brew...); until then the tests that need it skip"; fi; \
done; \
if [ -n "$$missing" ]; then echo "installing$$(echo $$missing | sed "s/lean://g") (apt-get)"; $(APT_GET) update -qq && \
  full=$$(printf '%s\n' $$missing | grep -v '^lean:' || true); \
  lean=$$(printf '%s\n' $$missing | sed -n 's/^lean://p'); \
  { [ -z "$$full" ] || $(APT) $$full >/dev/null; } && \
  { [ -z "$$lean" ] || $(APT) --no-install-recommends $$lean >/dev/null; }; fi
endef

tools:
	$(call needs,redis promtool chromium cjk-fonts)

redis promtool cjk-fonts:
	$(call needs,$@)

chromium:
	$(call needs,chromium cjk-fonts)

# The docs site in English and Chinese, strictly (every warning an error, every reference
# resolved), then the Chinese catalogs' count and the glossary, strictly too (DOCS_I18N=: report).
DOCS_PORT ?= 8000
DOCS_LANGUAGES := zh_CN
DOCS_I18N := --strict

docs: $(STAMP)
	@# every language at once, each its own Sphinx on one core (they write apart: the API
	@# pages atomically, the .mo files by the Chinese build only); any failure fails the step.
	@# The build holds docs/_build/make-docs.lock (flock, where there is one): the suite's
	@# browser checks, run beside it by `make test`, wait for this site.
	@mkdir -p docs/_build; exec 9>docs/_build/make-docs.lock; \
	{ ! command -v flock >/dev/null || flock 9; }; \
	find docs/locale -name '*.mo' -delete; rm -rf docs/_build/html; \
	pids=""; for lang in en $(DOCS_LANGUAGES); do \
	  if [ $$lang = en ]; then extra=""; out=docs/_build/html; \
	  else extra="-D language=$$lang"; out=docs/_build/html/$$lang; fi; \
	  echo "sphinx-build -E -W --keep-going -n -q -b html $$extra docs $$out"; \
	  $(BIN)/sphinx-build -E -W --keep-going -n -q -b html $$extra docs $$out & pids="$$pids $$!"; \
	done; failed=0; for pid in $$pids; do wait $$pid || failed=1; done; exit $$failed
	$(foreach lang,$(DOCS_LANGUAGES),$(BIN)/python docs/_ext/catalogs.py --quiet \
	  --language $(lang) $(DOCS_I18N) &&) true
	$(foreach lang,$(DOCS_LANGUAGES),$(BIN)/python docs/_ext/glossary.py \
	  --language $(lang) $(DOCS_I18N) &&) true

docs-serve: docs
	@echo "serving the docs at http://127.0.0.1:$(DOCS_PORT)/ (Ctrl-C to stop)"
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory docs/_build/html $(DOCS_PORT)

# After an edit of an English page: its messages merged into each language's catalogs.
docs-catalogs: $(STAMP)
	rm -rf docs/_build/gettext
	$(BIN)/sphinx-build -E -q -b gettext docs docs/_build/gettext
	rm -rf docs/_build/gettext/reference/api
	$(BIN)/sphinx-intl update -p docs/_build/gettext -d docs/locale -w 0 \
	  $(addprefix -l ,$(DOCS_LANGUAGES))
	$(BIN)/python docs/_ext/catalogs.py $(addprefix --language ,$(DOCS_LANGUAGES))

# The messages new or retranslated since REVIEW_BASE, English beside Chinese.
REVIEW_BASE ?= main

docs-review: $(STAMP)
	$(foreach lang,$(DOCS_LANGUAGES),$(BIN)/python docs/_ext/catalogs.py \
	  --language $(lang) --review $(REVIEW_BASE) &&) true

# The generated files, from the endpoint table: the keys each spelling sends
# (bkjob_async/_protocol/_keys.py) and the facades' methods (client.py, sync.py).
api-keys: $(STAMP)
	$(BIN)/python scripts/gen_api_keys.py

facades: $(STAMP)
	$(BIN)/python scripts/gen_facades.py

bench: $(STAMP) redis
	$(BIN)/pytest -q -s benchmarks -o testpaths=benchmarks

check-live-view: $(STAMP)
	bash scripts/check-live-view.sh

clean:
	rm -rf $(VENV) docs/_build docs/reference/api .nox .mypy_cache .ruff_cache .pytest_cache \
	  .hypothesis .benchmarks .coverage .coverage.*
