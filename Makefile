# The two commands: `make demo` and `make test`. Everything installs itself on first use.
SHELL := /bin/bash
PY := .venv/bin/python
PART ?=
SERVICE ?=
# make up PART=async-rabbitmq|streaming-kafka BROKERS=3: a three-node RabbitMQ cluster or a three-broker KRaft
# cluster (the `brokers` setting, default 1). Passed on only when given.
ifdef BROKERS
export BROKERS
endif

.PHONY: help install lock check demo test bench up down stop start ps logs kill replay redrive lint clean reset watch \
	docker-engine docker-images docker-up docker-down docker-demo

help:
	@echo "make demo                       install, run every part's scenarios natively, write evidence + comparison"
	@echo "make test                       install and run the whole test suite (brokers included)"
	@echo "make check                      the fast lane: ruff, mypy on the services, the unit and service rings (no broker)"
	@echo "make bench                      benchmarks -> docs/benchmarks.{json,md}"
	@echo "make lock                       re-resolve requirements.lock and requirements-service.lock from pyproject.toml"
	@echo "make up PART=<part>             start a part natively, return when healthy"
	@echo "make up PART=async-rabbitmq BROKERS=3    Part B on a three-node RabbitMQ cluster (quorum queues)"
	@echo "make up PART=streaming-kafka BROKERS=3   Part C on a three-broker KRaft cluster (kafka, kafka-2, kafka-3)"
	@echo "make down                       stop everything the native runtime started"
	@echo "make stop|start PART=<part> SERVICE=<service>"
	@echo "make ps | make logs PART=<part> [SERVICE=<service>] [FOLLOW=1] | make replay"
	@echo "make reset PART=<part>          forget a part's native data (stock, orders, broker); refused while it runs"
	@echo "make watch PART=async-rabbitmq|streaming-kafka [INTERVAL=1]   queue depths / consumer lag until Ctrl-C"
	@echo "make observe PART=<part>        Prometheus (Debian's, installed if missing) on 127.0.0.1:9090 scraping the running part"
	@echo "make redrive PART=async-rabbitmq|streaming-kafka [ALL=1]   re-publish retryable dead letters"
	@echo "make docker-engine              start a Docker engine (root, Debian) and install the compose v2 plugin"
	@echo "make docker-images              build the local images of docker/offline.env (no registry needed)"
	@echo "make docker-up PART=<part>      engine + images if needed, then docker compose up -d --build --wait"
	@echo "make docker-down PART=<part> [VOLUMES=1]   docker compose down (VOLUMES=1: remove its volumes too)"
	@echo "make docker-up PART=async-rabbitmq|streaming-kafka BROKERS=3   the part's compose cluster (docker-compose.cluster.yml)"
	@echo "make docker-demo [PART=<part>]  each part's scenario script under Docker -> <part>/tests/docker/ evidence"
	@echo "parts: sync-rest async-rabbitmq streaming-kafka"

install: .venv/.installed

# The locked dependencies (every version and hash pinned), then the project itself, editable: common/,
# labkit/, comparison/ and the three part packages. `make lock` re-resolves the locks after a change to pyproject.toml.
.venv/.installed: pyproject.toml requirements.lock
	@command -v python3 >/dev/null || { echo "python3 (3.11+) is required"; exit 1; }
	@# root does not run a venv another user owns (its python and packages are that user's code)
	@if [ "$$(id -u)" = 0 ] && [ -e .venv ] && [ "$$(stat -c %u .venv)" != 0 ]; then \
		echo "refused: .venv belongs to uid $$(stat -c %u .venv); run make install as that user, not as root"; exit 1; fi
	@test -x $(PY) || python3 -m venv .venv
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	@$(PY) -m pip install --quiet --no-deps -e .
	@touch $@
	@echo "python packages installed in .venv (the project editable)"

lock: install
	@$(PY) -m pip install --quiet pip-tools
	@$(PY) -m piptools compile --quiet --strip-extras --generate-hashes --extra dev -o requirements.lock pyproject.toml
	@$(PY) -m piptools compile --quiet --generate-hashes -o requirements-service.lock pyproject.toml

# The developer's fast lane, no broker and no stack: lint, the type checker on the services and the kernel they
# import ([tool.mypy] in pyproject.toml), then the rings that need no process (unit, service).
check: install
	@$(PY) -m ruff check .
	@$(PY) -m mypy
	@$(PY) -m pytest -q -m "unit or service"

demo: install
	@$(PY) scripts/demo.py $(if $(STEPS),--steps $(STEPS))

test: install
	@$(PY) scripts/run_tests.py

bench: install
	@$(PY) -m comparison.bench

define need_part
	@test -n "$(PART)" || { echo "set PART=sync-rest|async-rabbitmq|streaming-kafka"; exit 2; }
endef
define need_service
	@test -n "$(SERVICE)" || { echo "set SERVICE=<service> (see the part's docker-compose.yml)"; exit 2; }
endef

up: install
	$(need_part)
	@$(PY) -m labkit.runtime up $(PART)

down: install
	@$(PY) -m labkit.runtime down

stop: install
	$(need_part)
	$(need_service)
	@$(PY) -m labkit.runtime stop $(PART) $(SERVICE)

start: install
	$(need_part)
	$(need_service)
	@$(PY) -m labkit.runtime start $(PART) $(SERVICE)

kill: install
	$(need_part)
	$(need_service)
	@$(PY) -m labkit.runtime kill $(PART) $(SERVICE)

ps: install
	@$(PY) -m labkit.runtime ps

logs: install
	$(need_part)
	@$(PY) -m labkit.runtime logs $(PART) $(SERVICE) $(if $(filter 1 yes true,$(FOLLOW)),--follow)

reset: install
	$(need_part)
	@$(PY) -m labkit.runtime reset $(PART)

watch: install
	$(need_part)
	@$(PY) -m labkit.runtime watch $(PART) $(if $(INTERVAL),--interval $(INTERVAL))

observe: install
	$(need_part)
	@$(PY) -m labkit.observe $(PART)

replay: install
	@$(PY) -m streaming_kafka.analytics_consumer.replay

redrive: install
	@case "$(PART)" in async-rabbitmq|streaming-kafka) ;; \
	  *) echo "set PART=async-rabbitmq|streaming-kafka (the parts with a dead-letter path)"; exit 2;; esac
	@$(PY) -m $(subst -,_,$(PART)).lab.redrive $(if $(ALL),--all)

lint: install
	@$(PY) -m ruff check .

# Docker: docker/engine.sh, docker/images.sh and docker/compose.sh (see "Docker on a machine that cannot pull").
docker-engine:
	@docker/engine.sh

docker-images: install
	@docker/images.sh

docker-up: install
	$(need_part)
	@docker/compose.sh up $(PART)

docker-down:
	$(need_part)
	@docker/compose.sh down $(PART) $(if $(filter 1 yes true,$(VOLUMES)),-v)

docker-demo: install
	@$(PY) scripts/docker_demo.py

clean: down
	rm -rf .run
