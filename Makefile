# progressive.delivery: one command to try it (`make demo`), one to test it (`make test`).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
LAB := $(PY) tests/lab/lab.py
PYTEST := $(PY) -m pytest
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# integration tests and e2e flows run on this many pytest-xdist workers; each worker after the first has a lab of
# its own (ports +2000 per worker, LAB_DIR-gwN; tests/conftest.py)
TEST_WORKERS ?= 2

.PHONY: help deps lab-up lab-down lab-status lab-image demo test lint ruff yamllint ansible-lint sanity \
        unit integration molecule e2e build clean deploy rollback guard status release

help:
	@echo "make demo        start the lab and run a real release on it, with a narrative of what happened"
	@echo "make deploy ENV=lab REGION=kr IMAGE=... VERSION=... [STRATEGY=canary|blue_green]"
	@echo "make release IMAGE=... VERSION=... [ENVS=stg-kr,stg-jp,prod-kr,prod-jp] (lab: ENVS=lab,lab-jp)"
	@echo "make rollback ENV=lab REGION=kr [TO_TAG=...] | make guard ACTION=... | make status"
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
	$(PY) scripts/demo.py

# The seeds' commands: make deploy ENV=stg REGION=kr STRATEGY=canary IMAGE=REG/app@sha256:... VERSION=2026.11.3+92
#                      make rollback ENV=prod REGION=jp [TO_TAG=REG/app@sha256:...]
#                      make guard ENV=prod REGION=kr ACTION=lock|unlock|status [DURATION=5m] [REASON=...]
#                      make status ENV=prod REGION=kr  (exit 0 healthy, 10 progressing, 11 rolled back, 12 degraded)
ENV ?= lab
REGION ?= kr
INVENTORY = $(if $(filter lab,$(ENV)),inventories/lab,inventories/$(ENV)-$(REGION))
PLAYBOOK = $(VENV)/bin/ansible-playbook -i $(INVENTORY)

deploy: deps
	$(PLAYBOOK) playbooks/deploy.yml -e delivery_image=$(IMAGE) -e delivery_version=$(VERSION) \
	  $(if $(STRATEGY),-e delivery_strategy=$(STRATEGY)) $(if $(GIT_SHA),-e delivery_git_sha=$(GIT_SHA))

# make release IMAGE=REG/app@sha256:... VERSION=2026.11.3+92 [ENVS=stg-kr,stg-jp,prod-kr,prod-jp]  (lab: ENVS=lab,lab-jp)
release: deps
	$(VENV)/bin/ansible-playbook -i inventories/release playbooks/release.yml -e delivery_image=$(IMAGE) -e delivery_version=$(VERSION) \
	  $(if $(ENVS),-e delivery_release_environments=$(ENVS))

rollback: deps
	$(PLAYBOOK) playbooks/rollback.yml $(if $(TO_TAG),-e delivery_rollback_to=$(TO_TAG)) \
	  $(if $(REASON),-e "delivery_rollback_reason='$(REASON)'")

guard: deps
	$(PLAYBOOK) playbooks/guard.yml -e guard_action=$(or $(ACTION),status) \
	  $(if $(DURATION),-e guard_duration=$(DURATION)) $(if $(REASON),-e "guard_reason='$(REASON)'")

status: deps
	@scripts/delivery-status $(INVENTORY)

# One lab per worker for the whole suite: the first started here, the others by their worker's first test; shared
# by integration and e2e (LAB_KEEP: each reuses a running lab and leaves it running), all stopped at the end
# whatever happened, the workers' labs first (the first lab may own the Docker engine). The molecule scenarios run
# among the e2e flows (tests/e2e/test_role_scenarios.py), each on the lab of the worker that takes it.
test: deps lint
	$(LAB) up
	@rc=0; LAB_KEEP=1 $(MAKE) --no-print-directory unit integration e2e || rc=$$?; \
	for worker in $$(seq $$(( $(TEST_WORKERS) - 1 )) -1 1); do $(LAB) down --worker $$worker || rc=1; done; \
	$(LAB) down; exit $$rc

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
	$(PYTEST) --durations=8 -n $(TEST_WORKERS) --dist worksteal tests/integration

molecule: deps
	@scenarios=$$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml 2>/dev/null | wc -l); \
	if [ "$$scenarios" -eq 0 ]; then echo "molecule: no scenarios yet"; else $(VENV)/bin/molecule test --all; fi

e2e: deps
	@if compgen -G "tests/e2e/test_*.py" >/dev/null; then \
	  $(PYTEST) --durations=12 -n $(TEST_WORKERS) --dist worksteal tests/e2e; else echo "e2e: no tests yet"; fi

build: deps
	$(VENV)/bin/ansible-galaxy collection build --force --output-path .build/dist

clean: lab-down
	rm -rf .build .pytest_cache .ruff_cache
