"""Fixtures for Part A's rings: settings, Flask apps with temp storage, the native or compose stack."""
from __future__ import annotations



from common.testing import (  # noqa: F401
    docker_stack_fixture, native_stack_fixture, runtime_is_docker, settings, stack_fixture, tmp_settings)

native_stack = native_stack_fixture("sync-rest")
docker_stack = docker_stack_fixture("sync-rest")
stack = stack_fixture()  # the scenario ring's stack: native, or the compose stack with STACK_RUNTIME=docker
collect_ignore_glob = [] if runtime_is_docker() else ["docker/*"]  # the docker ring's own checks
