# ocsp-stapling — every target sets up what it needs (scripts/setup.sh is idempotent).
SHELL := /bin/bash
.DEFAULT_GOAL := help
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/.venv/bin:$(PATH)
PYTEST_ARGS ?=
N ?= 1000

.PHONY: help setup lint test unit sanity collection test-py311 test-node molecule demo demo-stop bench soak fuzz clean

help:
	@echo "make demo       - local demo fleet: responder + 3 nginx nodes (127.0.0.1:8443-8445) + 1 HAProxy (8446), site.yml, what clients see"
	@echo "make demo-stop  - stop everything the demo started"
	@echo "make test       - everything CI runs: lint, pytest (newest Python, 3.11, Debian's python3), molecule, sanity"
	@echo "make sanity     - ansible-test sanity on the built collection, offline, empty ignore file (scripts/sanity.sh)"
	@echo "make collection - build the ocsp.stapling collection tarball under build/collection (scripts/build_collection.py)"
	@echo "make bench      - benchmarks (validation, refresh, rollout)"
	@echo "make soak N=1000 - chaos soak"
	@echo "make fuzz N=20000 - seeded fuzzing of the policy, show/check and refresh (SEED=1)"

setup:
	@scripts/setup.sh all

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/yamllint -s .
	.venv/bin/ansible-lint

unit: setup
	.venv/bin/python -m pytest $(PYTEST_ARGS)

test-py311: setup
	.venv311/bin/python -m pytest -m "not molecule" $(PYTEST_ARGS)

test-node: setup
	.venv-node/bin/python -m pytest -m node $(PYTEST_ARGS)

molecule: setup
	scripts/molecule-all.sh

test: lint unit test-py311 test-node molecule sanity

sanity: setup
	scripts/sanity.sh

collection: setup
	.venv/bin/python scripts/build_collection.py

demo: setup
	@scripts/demo.sh start

demo-stop:
	@scripts/demo.sh stop

bench: setup
	.venv/bin/python -m benchmarks.run

soak: setup
	.venv/bin/python -m benchmarks.soak --cycles $(N)

fuzz: setup
	.venv/bin/python -m testbed.fuzz -n $(N) --seed $(or $(SEED),1)

clean:
	rm -rf .venv .venv311 .venv-node .venv-sanity .tmp build *.egg-info
