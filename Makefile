# The two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
# Evaluated at each use, so a uv installed by `install` is found by later recipes.
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PY := $(UV) run --frozen python

.PHONY: run test install lint typecheck format migrations-check services-up services-down bench-seed drill soak

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		{ echo "installing uv from PyPI"; python3 -m pip install --quiet uv; }
	$(UV) sync --frozen --extra carriers

run: install
	$(PY) scripts/devservices.py run

# Two pytest-xdist workers by default: the integration tests mostly wait on their worker,
# sandbox and browser processes, so two share this 2-core machine well (about 10 minutes
# against 16 one at a time). Each worker has its own test database and Redis database
# (config/settings_test.py). TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: install lint typecheck
	$(PY) scripts/devservices.py test --numprocesses $(TEST_WORKERS) $(PYTEST_ARGS)

lint:
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports --no-cache
	$(PY) scripts/devservices.py manage makemigrations --check --dry-run

# mypy with django-stubs/drf-stubs ([tool.mypy] in pyproject.toml; strict for the domain layer).
# No database: the plugin only loads the settings. Incremental cache under var/mypy_cache.
typecheck:
	$(UV) run --frozen mypy

format:
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

services-up:
	$(PY) scripts/devservices.py up

services-down:
	$(PY) scripts/devservices.py down

# A big database for performance work: `make bench-seed ORDERS=1000000` (docs/perf.md).
ORDERS ?= 1000000
bench-seed: install
	$(PY) scripts/devservices.py manage migrate --no-input -v 0
	$(PY) scripts/devservices.py manage seed_demo --orders $(ORDERS)

# Failure drills (minutes; each on its own embedded Postgres/Redis). Output: docs/drills/latest.md
drill: install
	$(PY) scripts/drills.py all --report docs/drills/latest.md

# Mixed-load soak: measures capacity, then holds 50 % of it open loop (default 10 minutes;
# MINUTES=2 for a short run; SOAK_ARGS="--fraction 0.6" etc.). Output: docs/perf-soak-latest.md
soak: install
	$(PY) bench/soak.py --minutes $(or $(MINUTES),10) --report docs/perf-soak-latest.md $(SOAK_ARGS)
