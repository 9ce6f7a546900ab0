"""The chaos ring's pure parts: the seeded schedule, each order's content, how a failed request is classified,
and the accounting's verdict."""
import random

import pytest
import requests

from common.settings import Settings
from labkit import chaos
from labkit.chaos import ACCEPTED, REFUSED, UNKNOWN, Attempt, ChaosRun, Kill

pytestmark = pytest.mark.unit
SERVICES = ("broker", "a", "b", "c")


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("rounds", [1, 2, 3, 4, 10])
def test_kill_plan_includes_the_broker_and_every_service_once_per_cycle(seed, rounds):
    plan = chaos.kill_plan(random.Random(seed), SERVICES, rounds, must="broker")
    assert len(plan) == rounds and "broker" in plan and set(plan) <= set(SERVICES)
    for i in range(0, rounds - rounds % 4, 4):
        assert sorted(plan[i:i + 4]) == sorted(SERVICES)


def test_the_seed_replays_the_schedule_and_the_orders():
    items = ("pizza", "soda", "coffee")
    assert chaos.kill_plan(random.Random(5), SERVICES, 10, "broker") == chaos.kill_plan(random.Random(5), SERVICES,
                                                                                        10, "broker")
    assert [chaos.order_for(5, i, items) for i in range(50)] == [chaos.order_for(5, i, items) for i in range(50)]
    assert [chaos.order_for(5, i, items) for i in range(50)] != [chaos.order_for(6, i, items) for i in range(50)]
    assert all(1 <= q <= 3 and it in items for it, q in (chaos.order_for(9, i, items) for i in range(200)))


def test_seed_from_settings_or_fresh():
    assert chaos.seed_from(Settings(chaos_seed=1234)) == 1234
    assert chaos.seed_from(Settings(chaos_seed=None)) > 0


def test_a_refused_connection_never_reached_the_service_but_a_broken_one_may_have():
    try:
        requests.post("http://127.0.0.1:9/order", json={}, timeout=2)  # the discard port: nothing listens
    except requests.RequestException as exc:
        assert chaos.classify_error(exc) == REFUSED
    else:
        pytest.skip("something listens on port 9")
    assert chaos.classify_error(requests.ReadTimeout("read timed out")) == UNKNOWN
    assert chaos.classify_error(requests.ConnectionError("Connection aborted.', RemoteDisconnected")) == UNKNOWN


def _run(**check) -> ChaosRun:
    run = ChaosRun("p", 1, 1, SERVICES, kills=[Kill(1, "broker", 1.0, 42, 10, 0.5, 3.0)],
                   attempts=[Attempt(0, "t0", "pizza", 1, ACCEPTED, "ORD-1", 202),
                             Attempt(1, "t1", "pizza", 2, UNKNOWN, detail="ReadTimeout")])
    run.check("lost", "client vs store", check.get("lost", 0), 0)
    return run


def test_the_verdict_is_every_check_and_every_restart():
    assert _run().ok
    assert not _run(lost=1).ok and [c.name for c in _run(lost=1).failed()] == ["lost"]
    broken = _run()
    broken.kills[0].error = "StackError: not healthy"
    assert not broken.ok
    assert not ChaosRun("p", 1, 1, SERVICES).ok  # no checks: nothing was accounted


def test_unknown_outcomes_are_resolved_by_tag():
    attempts = [Attempt(0, "t0", "pizza", 1, UNKNOWN, http_status=503), Attempt(1, "t1", "soda", 1, UNKNOWN,
                                                                                 detail="ReadTimeout")]
    note = chaos.unknown_note(attempts, {"t0"})
    assert "exist (final) {'HTTP 503': 1}" in note and "never existed anywhere {'ReadTimeout': 1}" in note


def test_render_shows_the_seed_rounds_and_failed_checks():
    text = chaos.render(_run(lost=2), "title", "header")
    assert "CHAOS_SEED=1" in text and "broker" in text and "RESULT: FAILED: lost" in text


class _Answer:
    def __init__(self, status: int, body=None):
        self.status_code, self._body = status, body

    def json(self):
        if self._body is None:
            raise ValueError("not JSON")
        return self._body


def _raise(exc):
    def post(body):
        raise exc
    return post


@pytest.mark.parametrize("post, outcome, order_id", [
    (lambda b: _Answer(202, {"order_id": "ORD-1", "status": "pending"}), chaos.ACCEPTED, "ORD-1"),
    (lambda b: _Answer(202, {}), chaos.UNKNOWN, None),  # a 202 without an id proves nothing
    (lambda b: _Answer(400, {"error": "invalid_item"}), chaos.REJECTED, None),
    (lambda b: _Answer(503, {"error": "broker_unavailable", "order_id": "ORD-2"}), chaos.UNKNOWN, "ORD-2"),
    (lambda b: _Answer(502), chaos.UNKNOWN, None),  # not JSON
    (_raise(requests.ConnectTimeout("connect timed out")), chaos.REFUSED, None),
    (_raise(requests.ReadTimeout("read timed out")), chaos.UNKNOWN, None),
])
def test_an_attempt_is_classified_by_what_the_service_can_have_done(post, outcome, order_id):
    seen = []
    attempt = chaos.place_attempt(3, "chaos-t-3", "pizza", 2, lambda body: seen.append(body) or post(body))
    assert (attempt.outcome, attempt.order_id) == (outcome, order_id)
    assert seen == [{"student_id": "chaos-t-3", "item": "pizza", "quantity": 2}]
