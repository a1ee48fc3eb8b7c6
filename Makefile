# progressive.delivery: one command to try it (`make demo`), one to test it (`make test`).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
LAB := $(PY) tests/lab/lab.py
PYTEST := $(PY) -m pytest
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help deps lab-up lab-down lab-status lab-image demo test lint ruff yamllint ansible-lint sanity \
        unit integration molecule e2e build clean

help:
	@echo "make demo        start the lab and send a request through HAProxy and nginx"
	@echo "make test        lint + unit + integration + molecule + e2e (installs what it needs)"
	@echo "make lab-up | lab-down | lab-status | lab-image"
	@echo "make lint | unit | integration | build"

deps:
	@scripts/bootstrap.sh

lab-up: deps
	$(LAB) up

lab-down:
	@if [ -x $(PY) ]; then $(LAB) down; else python3 tests/lab/lab.py down; fi

lab-status:
	@$(LAB) status

lab-image: deps
	$(LAB) image --force

demo: lab-up
	$(VENV)/bin/ansible-playbook playbooks/smoke.yml -i inventories/lab

test: deps lint unit integration molecule e2e

lint: deps ruff yamllint ansible-lint sanity

ruff:
	$(VENV)/bin/ruff check .

yamllint:
	$(VENV)/bin/yamllint -s .

ansible-lint:
	$(VENV)/bin/ansible-lint --profile production

sanity:
	scripts/sanity.sh

unit: deps
	$(PYTEST) tests/unit

integration: deps
	$(PYTEST) tests/integration

molecule: deps
	@scenarios=$$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml 2>/dev/null | wc -l); \
	if [ "$$scenarios" -eq 0 ]; then echo "molecule: no scenarios yet"; else $(VENV)/bin/molecule test --all; fi

e2e: deps
	@if compgen -G "tests/e2e/test_*.py" >/dev/null; then $(PYTEST) tests/e2e; else echo "e2e: no tests yet"; fi

build: deps
	$(VENV)/bin/ansible-galaxy collection build --force --output-path .build/dist

clean: lab-down
	rm -rf .build .pytest_cache .ruff_cache
