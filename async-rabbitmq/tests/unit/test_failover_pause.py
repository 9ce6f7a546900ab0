"""How the failover scenario reads "orders flow again" from the times orders became final."""
import pytest

from async_rabbitmq.failover import _longest_pause

pytestmark = pytest.mark.unit


def test_the_pause_caused_by_the_outage_may_end_after_the_restart_began():
    # classic queue: nothing final from the kill (5) until after the restart (15)
    assert _longest_pause([1, 2, 4.9, 18, 18.1], since=5, until=15) == (5, 18)


def test_a_later_pause_during_the_restart_is_not_the_outage():
    # quorum queue: flow continues after the kill; a longer pause starting after the restart is left out
    times = [5.2, 5.4, 6, 7, 8, 9, 16, 26]
    assert _longest_pause(times, since=5, until=15) == (9, 16)
    assert _longest_pause(times, since=15, until=float("inf")) == (16, 26)
