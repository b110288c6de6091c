# glofwatch: the two commands of the README are `make demo` and `make test`.
# Both create .venv with the stdlib venv + pip when missing and install the
# project into it; a second run reinstalls nothing unless pyproject.toml or
# requirements.lock changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.glofwatch-installed
DEMO_OUT ?= runs/demo

.PHONY: install demo test test-fast lock bench clean browser lint

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements.lock torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	$(PY) -m pip install -q --no-deps -c requirements.lock grad-cam==1.5.7 ultralytics==8.4.190
	bash glofwatch/webmap/fetch_assets.sh
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/glofwatch demo --out $(DEMO_OUT)

# The PostGIS storage tests use a local PostgreSQL 15 + PostGIS 3 that .ci/postgis.sh installs
# (Debian packages, as root) and starts on 127.0.0.1; a given GLOFWATCH_TEST_DB is used as it is.
test: $(STAMP) browser lint
	GLOFWATCH_TEST_DB="$${GLOFWATCH_TEST_DB:-$$(bash .ci/postgis.sh | tail -n 1)}" $(PY) -m pytest -q -p no:cacheprovider

# Style (ruff), types (mypy) and layers (import-linter: each stage imports only the stages below
# it, and no sibling modules import each other in a cycle); any finding fails `make test`.
lint: $(STAMP)
	$(VENV)/bin/ruff check glofwatch tests
	$(VENV)/bin/mypy glofwatch
	$(VENV)/bin/lint-imports

# Headless Chromium opens the HTML report and the web map in tests; without it those tests fail.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "chromium could not be installed (needs root and apt-get): the browser tests will fail"

test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow"

lock: $(STAMP)
	{ echo "# Exact versions the project is tested with (pip constraints; regenerate with 'make lock')."; \
	  $(PY) -m pip freeze --exclude-editable | grep -v '^glofwatch'; } > requirements.lock

bench: $(STAMP)
	$(VENV)/bin/glofwatch bench infer --out runs/bench/infer
	$(VENV)/bin/glofwatch bench train --out runs/bench/train
	$(VENV)/bin/glofwatch bench scene --out runs/bench/scene
	$(VENV)/bin/glofwatch bench realism --out runs/bench/realism
	$(VENV)/bin/glofwatch bench trim --model runs/bench/realism/run --out runs/bench/trim
	$(VENV)/bin/glofwatch bench precision --model runs/bench/realism/run --seeds 0,1 --out runs/bench/precision
	$(VENV)/bin/glofwatch bench region --tiles 4 --out runs/bench/region
	$(VENV)/bin/glofwatch bench versus --out runs/bench/versus --seconds 300 --seconds-for real-grouped=600 \
	  --contenders dlv3p-r50-dice,fast,fast:weights=none

clean:
	rm -rf $(VENV) runs .pytest_cache
