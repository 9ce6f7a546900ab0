"""Fixtures for Part B's rings: settings, temp stores, the native or compose stack."""
from __future__ import annotations

from labkit.testing import docker_cluster_fixture, docker_stack_fixture, native_stack_fixture, stack_fixture

native_stack = native_stack_fixture("async-rabbitmq")
docker_stack = docker_stack_fixture("async-rabbitmq")
docker_cluster = docker_cluster_fixture("async-rabbitmq")  # the docker ring's cluster test
stack = stack_fixture()  # the scenario ring's stack: native, then the compose stack (marked docker)
