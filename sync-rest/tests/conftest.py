"""Fixtures for Part A's rings: settings, Flask apps with temp storage, the native or compose stack."""
from __future__ import annotations

from labkit.testing import docker_stack_fixture, native_stack_fixture, stack_fixture

native_stack = native_stack_fixture("sync-rest")
docker_stack = docker_stack_fixture("sync-rest")
stack = stack_fixture()  # the scenario ring's stack: native, then the compose stack (marked docker)
