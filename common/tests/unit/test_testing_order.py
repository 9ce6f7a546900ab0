"""The order the one pytest process runs the rings in (common.testing): part by part, each part's docker-marked
tests last, and the check that removes the compose stack after all of them. Part B's docker module defines
its own checks below `from common.docker_ring import *`, so they are collected after the volume check; since
that check ends with `down -v`, they would find no stack."""
import pytest

from common.settings import ROOT
from common.testing import pytest_collection_modifyitems

pytestmark = pytest.mark.unit


class Item:
    def __init__(self, path: str, name: str, *markers: str):
        self.path, self.name, self.markers = ROOT / path, name, set(markers)

    def get_closest_marker(self, name: str):
        return name if name in self.markers else None


def test_the_check_that_removes_the_stack_runs_after_every_other_test_of_its_part():
    ring = "async-rabbitmq/tests/docker/test_docker_async.py"
    items = [Item("async-rabbitmq/tests/unit/test_x.py", "unit", "unit"),
             Item(ring, "shared", "docker"),
             Item(ring, "volumes", "docker", "removes_stack"),
             Item(ring, "guest", "docker"),
             Item("async-rabbitmq/tests/test_async.py", "scenario[docker]", "docker"),
             Item("async-rabbitmq/tests/test_async.py", "scenario[native]"),
             Item("streaming-kafka/tests/unit/test_y.py", "next part", "unit")]
    pytest_collection_modifyitems(items)
    assert [i.name for i in items] == ["unit", "scenario[native]", "scenario[docker]", "shared", "guest",
                                       "volumes", "next part"]
