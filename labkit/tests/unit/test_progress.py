"""The longest pause in progress after a fault, as both failover scenarios measure it."""
import math

import pytest

from labkit.progress import Pause, longest_pause

pytestmark = pytest.mark.unit


def test_a_pause_under_way_at_the_fault_counts_from_the_fault():
    assert longest_pause([0, 0.5, 1.0, 3.0, 4.0], since=0.9) == (1.0, 3.0)
    assert longest_pause([0, 0.5, 1.0, 3.0, 4.0], since=1.2) == Pause(1.2, 3.0)
    assert longest_pause([0, 0.5, 1.0, 3.0, 4.0], since=1.2).seconds == pytest.approx(1.8)
    assert longest_pause([4.0, 1.0, 3.0], since=3.2) == (3.2, 4.0)  # any order


def test_the_pause_caused_by_the_outage_may_end_after_the_restart_began():
    # classic queue: nothing final from the kill (5) until after the restart (15)
    assert longest_pause([1, 2, 4.9, 18, 18.1], since=5, until=15) == (5, 18)


def test_a_longer_pause_beginning_after_until_is_left_out():
    # quorum queue: flow continues after the kill; a longer pause starting after the restart (15) is apart
    times = [5.2, 5.4, 6, 7, 8, 9, 16, 26]
    assert longest_pause(times, since=5, until=15) == (9, 16)
    assert longest_pause(times, since=15) == (16, 26)
    assert longest_pause(times, since=15, until=math.inf) == longest_pause(times, since=15)


def test_of_equal_pauses_the_first_and_no_progress_is_an_empty_pause():
    assert longest_pause([1, 2, 3], since=0) == (0, 1)
    assert longest_pause([1, 2], since=5) == (5, 5)
    assert longest_pause([], since=5).seconds == 0
