# openclaw.memory — the two commands are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PY_BOOT ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PYTHONPATH := $(CURDIR)/tools:$(CURDIR)/.collections
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help prereqs venv collections test unit lint sanity doc build molecule lab-down demo bench bench-smoke clean

help:
	@echo "make demo   # build venv + lab, seed an OpenClaw host, run the collection against it"
	@echo "make test   # venv + lab, unit tests, ruff, ansible-lint, ansible-test sanity, ansible-doc, build, molecule"
	@echo "make venv   # only the control-node venv and .collections"
	@echo "make bench  # benchmarks (not part of make test)"

prereqs:
	@tools/prereqs.sh

$(STAMP): requirements/control.txt roles/deps/files/requirements-host.txt
	$(PY_BOOT) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/control.txt
	touch $@

venv: $(STAMP) collections

collections: $(STAMP)
	@tools/collections.sh

unit: venv old-reader
	$(BIN)/pytest -p no:cacheprovider -q tests/unit

# An older Lance reader (pylance 0.38 reads data_storage_version 2.0-2.1, not 2.2) for the lance_import tests.
OLD_READER := .cache/old-reader-venv
.PHONY: old-reader
old-reader: $(OLD_READER)/.installed
$(OLD_READER)/.installed:
	$(PY_BOOT) -m venv $(OLD_READER)
	$(OLD_READER)/bin/pip install --quiet --disable-pip-version-check pylance==0.38.3 pyarrow==26.0.1 numpy==2.4.6
	touch $@

lint: venv
	$(BIN)/ruff check plugins tests tools bench
	$(BIN)/ansible-lint --profile production --offline

# Every ansible-test sanity test on a copy laid out as ansible_collections/openclaw/memory (exceptions, each with
# its reason: tests/sanity/ignore-<ansible-core version>.txt).
sanity: venv
	@tools/sanity.sh

doc: venv
	@tools/check-docs.sh

build: venv
	@tools/build-smoke.sh

molecule: venv prereqs
	@tools/molecule-all.sh

lab-down:
	@tools/ocmlab/lab.sh down

.PHONY: lab-test
lab-test: venv prereqs
	$(BIN)/pytest -p no:cacheprovider -q tests/lab

test: prereqs venv
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory bench-smoke
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory sanity
	$(MAKE) --no-print-directory doc
	$(MAKE) --no-print-directory build
	$(MAKE) --no-print-directory lab-test
	$(MAKE) --no-print-directory molecule
	@tools/ocmlab/lab.sh assert-clean

demo: prereqs venv
	@tools/demo.sh

clean: lab-down
	rm -rf $(VENV) .collections .cache tests/output

# Benchmarks (bench/run_bench.py): results in bench/results/<date>.md/.json/-growth.png; datasets cached in
# .cache/bench. BENCH_ARGS e.g. "--runs 7", "--only snapshot,verify", "--cutover" (item 4, on the lab).
bench: venv
	$(BIN)/python bench/run_bench.py $(BENCH_ARGS)

# The same code on tiny datasets, 2 rounds, into a temp dir: fails when a bench script breaks (part of make test).
bench-smoke: venv
	$(BIN)/python bench/run_bench.py --smoke
