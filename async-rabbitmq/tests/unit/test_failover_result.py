"""FailoverResult.unmet: the guarantees on orders a failover run broke, what the native and docker tests assert."""
from dataclasses import replace

import pytest

from async_rabbitmq.failover import FailoverResult

pytestmark = pytest.mark.unit


def _result(**changes) -> FailoverResult:
    held = FailoverResult(
        queue_type="quorum", n=10, rate=30.0, down_s=8.0, accepted_202=10, killed_service="rabbitmq",
        killed_node="foodlab1@localhost", leader_before="foodlab1@localhost", leader_while_down="foodlab2@localhost",
        leader_after="foodlab2@localhost", kill_s=1.0, leader_change_s=2.0, home_probe_s=None, restart_begun_s=9.0,
        node_back_s=12.0, resumed_s=2.5, stall_s=1.5, restart_stall_s=0.5, all_final_s=13.0, timeline=[],
        accepted_at=[], final_at=[], counts={"confirmed": 8, "failed": 2}, lost=0, reservation_records=10,
        reserved_twice=0, duplicates_seen=1, arithmetic={}, arithmetic_exact=True)
    return replace(held, **changes)


def test_empty_when_every_guarantee_holds():
    assert _result().unmet() == []


@pytest.mark.parametrize("changes, broken", [
    ({"accepted_202": 9}, "every order accepted"),
    ({"lost": 1}, "nothing lost, every order final"),
    ({"counts": {"confirmed": 8, "failed": 1}}, "nothing lost, every order final"),
    ({"reservation_records": 11}, "one reservation record per order, none twice"),
    ({"reserved_twice": 1}, "one reservation record per order, none twice"),
    ({"arithmetic_exact": False}, "stock arithmetic exact"),
])
def test_names_each_broken_guarantee(changes, broken):
    assert [u.split(" (")[0] for u in _result(**changes).unmet()] == [broken]
