# MIA: two commands on a fresh machine.
#   make run    set up .venv and var/, then start every service (embedded mode)
#   make test   set up .venv (and the test services), lint, run every test suite
# Both are quick when already set up: installs are keyed on the requirement files.
# requirements.txt (the local install) includes each image's set under requirements/;
# requirements-dev.txt adds the tests' tools. A change to any of them re-installs.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQ_FILES := requirements.txt $(sort $(wildcard requirements/*.txt))
DEV_FILES := $(REQ_FILES) requirements-dev.txt
REQ_HASH := $(shell tail -n +1 $(REQ_FILES) | sha1sum | cut -c1-12)
DEV_HASH := $(shell tail -n +1 $(DEV_FILES) | sha1sum | cut -c1-12)
RUNTIME_STAMP := $(VENV)/.runtime-$(REQ_HASH)
DEV_STAMP := $(VENV)/.dev-$(DEV_HASH)
# checkov pins its own boto3, so it lives in a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.checkov-$(shell cat requirements-checkov.txt | sha1sum | cut -c1-12)
TERRAFORM := $(shell command -v terraform 2>/dev/null)
# Browser assets of the patient pages (tus-js-client, Inter) from npm; reinstalled when the lock changes.
NODE_STAMP := node_modules/.mia-installed
MIA_TEST_MYSQL_URL ?= mysql+pymysql://root@127.0.0.1:3306/test
export MIA_TEST_MYSQL_URL

.PHONY: run test lint format bench schema system-deps terraform-check lambda-package clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUNTIME_STAMP): $(REQ_FILES) | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	rm -f $(VENV)/.runtime-*
	touch $@

$(DEV_STAMP): $(DEV_FILES) | $(PY)
	$(PY) -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.dev-* $(VENV)/.runtime-*
	touch $@ $(RUNTIME_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q -r requirements-checkov.txt
	rm -f $(CHECKOV_VENV)/.checkov-*
	touch $@

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || scripts/install-system-deps.sh
	npm ci --no-audit --no-fund
	touch $@

run: $(RUNTIME_STAMP) $(NODE_STAMP)
	$(PY) manage.py init
	$(VENV)/bin/honcho start -f Procfile

system-deps:
	scripts/install-system-deps.sh

test: $(DEV_STAMP) $(NODE_STAMP) system-deps lint terraform-check
	$(PY) -m pytest

# Static analysis of the AWS deployment, no cloud account needed (terraform/README.md).
# The HCL property tests (tests/unit/test_terraform.py) run with the rest of pytest.
terraform-check: $(CHECKOV_STAMP)
ifneq ($(TERRAFORM),)
	$(TERRAFORM) fmt -check -recursive terraform/
else
	@echo "terraform not installed: skipping terraform fmt -check"
endif
	$(CHECKOV_VENV)/bin/checkov -d terraform -d docker --framework terraform dockerfile --quiet --compact --skip-download

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(DEV_STAMP) $(NODE_STAMP) system-deps
	@for script in tests/benchmarks/bench_*.py; do \
		echo "== $$script"; $(PY) $$script || exit 1; \
	done

# Regenerate the reviewed MySQL DDL from the migrations (needs the test MariaDB).
schema: $(DEV_STAMP)
	$(PY) scripts/regenerate_mysql_schema.py

# Lambda artifacts for the processors: build/lambda/processors.zip + ffmpeg-layer.zip (see README).
LAMBDA_PYTHON ?= 3.12
lambda-package: $(DEV_STAMP)
	$(PY) scripts/build_lambda_package.py --python $(LAMBDA_PYTHON) --out build/lambda

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build test-output .pytest_cache .ruff_cache node_modules
