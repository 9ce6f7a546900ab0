"""FailoverResult.unmet: the guarantees on orders a failover run broke, what the native and docker tests assert."""
from dataclasses import replace

import pytest

from async_rabbitmq.lab.failover import FailoverResult
from labkit.progress import longest_pause

pytestmark = pytest.mark.unit

# Final-state times of ten orders around a kill at 1.0 s (restart begun at 9.0 s): a quorum queue keeps them flowing.
QUORUM_FINAL_AT = [0.5, 0.8, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5]


def _result(final_at: list[float] = QUORUM_FINAL_AT, kill_s: float = 1.0, restart_begun_s: float = 9.0,
            **changes) -> FailoverResult:
    """A result as node_failover builds it: the pauses are computed from the final times by the scenario's code."""
    pause = longest_pause(final_at, since=kill_s, until=restart_begun_s)
    held = FailoverResult(
        queue_type="quorum", n=10, rate=30.0, down_s=8.0, accepted_202=10, killed_service="rabbitmq",
        killed_node="foodlab1@localhost", leader_before="foodlab1@localhost", leader_while_down="foodlab2@localhost",
        leader_after="foodlab2@localhost", kill_s=kill_s, leader_change_s=2.0, home_probe_s=None,
        restart_begun_s=restart_begun_s, node_back_s=12.0, resumed_s=round(pause.end, 2),
        stall_s=round(pause.seconds, 2), restart_stall_s=round(longest_pause(final_at, since=restart_begun_s).seconds, 2),
        all_final_s=final_at[-1] if final_at else None, timeline=[], accepted_at=[], final_at=final_at,
        counts={"confirmed": 8, "failed": 2}, lost=0, reservation_records=10, reserved_twice=0, duplicates_seen=1,
        arithmetic={}, arithmetic_exact=True, leader_at_kill="foodlab1@localhost")
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


def test_orders_flowing_while_down_is_read_from_the_final_times():
    assert _result().flowed_while_down and _result().resumed_s == 2.5
    # nothing final after the kill: the pause is the empty one at the kill, so "resumed before the restart" held
    stalled = _result(final_at=[0.2, 0.5, 0.8])
    assert stalled.resumed_s == stalled.kill_s < stalled.restart_begun_s  # what the tests used to assert
    assert not stalled.flowed_while_down
    # a classic queue: nothing final until after the restart
    classic = _result(final_at=[0.2, 0.5, 0.8, 12.5, 13.0])
    assert classic.resumed_s == 12.5 and not classic.flowed_while_down


def test_the_contrast_line_says_what_the_classic_run_showed():
    """It said "nothing moves until it is back" whatever the classic run measured."""
    from async_rabbitmq.lab.evidence.failover import render

    waited = render({"quorum": _result(), "classic": _result(final_at=[0.2, 0.5, 0.8, 12.5, 13.0])}, "rt", "cl")
    assert "no order reached a final state until it was started again" in waited
    flowed = render({"quorum": _result(), "classic": _result()}, "rt", "cl")
    assert "until it" not in flowed and "7 orders reached a final state while the classic queue's node was down" in flowed
