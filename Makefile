# The two commands: `make demo` and `make test`. Everything installs itself on first use.
SHELL := /bin/bash
PY := .venv/bin/python
PART ?=
SERVICE ?=
# BROKERS=3: Part B's three-node RabbitMQ cluster (common/settings.py reads it from the environment).
ifdef BROKERS
export BROKERS
endif

.PHONY: help install demo test bench up down stop start ps logs kill replay lint clean

help:
	@echo "make demo                       install, run every part's scenarios natively, write evidence + comparison"
	@echo "make test                       install and run the whole test suite (brokers included)"
	@echo "make bench                      benchmarks -> docs/benchmarks.{json,md}"
	@echo "make up PART=<part>             start a part natively, return when healthy"
	@echo "make up PART=async-rabbitmq BROKERS=3   the same with a three-node RabbitMQ cluster"
	@echo "make down                       stop everything the native runtime started"
	@echo "make stop|start PART=<part> SERVICE=<service>"
	@echo "make ps | make logs PART=<part> [SERVICE=<service>] | make replay"
	@echo "parts: sync-rest async-rabbitmq streaming-kafka"

install: .venv/.installed

.venv/.installed: requirements.txt common/requirements-service.txt
	@command -v python3 >/dev/null || { echo "python3 (3.11+) is required"; exit 1; }
	@test -x $(PY) || python3 -m venv .venv
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -r requirements.txt
	@touch $@
	@echo "python packages installed in .venv"

demo: install
	@$(PY) scripts/demo.py

test: install
	@$(PY) scripts/run_tests.py

bench: install
	@$(PY) scripts/bench.py

define need_part
	@test -n "$(PART)" || { echo "set PART=sync-rest|async-rabbitmq|streaming-kafka"; exit 2; }
endef
define need_service
	@test -n "$(SERVICE)" || { echo "set SERVICE=<service> (see the part's docker-compose.yml)"; exit 2; }
endef

up: install
	$(need_part)
	@$(PY) -m common.runtime up $(PART)

down: install
	@$(PY) -m common.runtime down

stop: install
	$(need_part)
	$(need_service)
	@$(PY) -m common.runtime stop $(PART) $(SERVICE)

start: install
	$(need_part)
	$(need_service)
	@$(PY) -m common.runtime start $(PART) $(SERVICE)

kill: install
	$(need_part)
	$(need_service)
	@$(PY) -m common.runtime kill $(PART) $(SERVICE)

ps: install
	@$(PY) -m common.runtime ps

logs: install
	$(need_part)
	@$(PY) -m common.runtime logs $(PART) $(SERVICE)

replay: install
	@$(PY) streaming-kafka/replay.py

lint: install
	@$(PY) -m ruff check .

clean: down
	rm -rf .run
