"""Part A's docker ring: what only the compose stack shows (run by `make test` with STACK_RUNTIME=docker, after
the scenario ring `tests/test_sync.py` ran against the same stack)."""
import pytest

from labkit.docker_ring import *  # noqa: F401,F403  (the checks every part shares)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def ring():
    return {"inventory": "inventory-service", "crashable": "notification-service", "front": "order-service",
            "built": ["order-service", "inventory-service", "notification-service"]}
