"""The dashboard's sampler and service with fake scrapes: figures from gauges, rates and histograms, services
down, the history, the JSON endpoint's 4xx, and each part's board naming the contract's figures."""
import json
import re

import pytest

from common.dashboard.app import build
from common.dashboard.board import Board, Chart, Figure, Sampler, faults, read, shown, values
from common.settings import Settings

BOARD = Board(
    part="sync-rest", title="test </script> board", sources={"front": "order_url", "back": "inventory_url"},
    figures=(
        Figure("orders_confirmed", "confirmed", "front", "orders_total", ({"outcome": "confirmed"},)),
        Figure("orders_failed", "failed", "front", "orders_total", ({"outcome": "failed"},)),
        Figure("order_rate", "orders / s", "front", "orders_total", kind="rate"),
        Figure("breaker_state", "breaker", "front", "circuit_breaker_state", words={0: "closed", 1: "open"}),
        Figure("latency", "latency", "front", "call_seconds", kind="mean_ms"),
        Figure("dlq_depth", "dlq", "back", "queue_messages", ({"queue": "a"}, {"queue": "b"})),
    ),
    charts=(Chart("orders", ("order_rate",)),),
)


def exposition(confirmed: float, breaker: int = 0, latency_sum: float = 0.0, latency_count: float = 0.0) -> str:
    return (f'# TYPE orders_total counter\norders_total{{outcome="confirmed",reason=""}} {confirmed}\n'
            f'# TYPE circuit_breaker_state gauge\ncircuit_breaker_state {breaker}\n'
            f'# TYPE call_seconds histogram\ncall_seconds_bucket{{le="+Inf"}} {latency_count}\n'
            f'call_seconds_sum {latency_sum}\ncall_seconds_count {latency_count}\n')


QUEUES = '# TYPE queue_messages gauge\nqueue_messages{queue="a"} 3\nqueue_messages{queue="b"} 4\nqueue_messages{queue="c"} 50\n'


class FakeServices:
    """Each source answers from `answers[source]` (a scrape text), or is down when it has none."""

    def __init__(self, **answers: str):
        self.answers = answers
        self.health = {"front": {"status": "ok"}, "back": {"status": "ok", "faults": {"delay_ms": 200,
                                                                                     "force_failure": False}}}

    def __call__(self, source: str, path: str) -> tuple[int, str]:
        if source not in self.answers:
            raise ConnectionError(f"{source} is down")
        if path == "/health":
            return 200, json.dumps(self.health[source])
        return 200, self.answers[source]


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.unit
def test_gauges_rates_and_means_from_two_readings():
    clock = Clock()
    services = FakeServices(front=exposition(10, latency_sum=0.5, latency_count=10), back=QUEUES)
    first = read(BOARD, services, clock)
    clock.t += 2
    services.answers["front"] = exposition(16, breaker=1, latency_sum=1.1, latency_count=12)
    second = read(BOARD, services, clock)
    got = values(BOARD, second, first)
    assert got["orders_confirmed"] == 16
    assert got["orders_failed"] == 0  # a labelled counter with no sample yet: the service answered, so 0
    assert got["order_rate"] == pytest.approx(3.0)  # 6 orders in 2 s
    assert got["latency"] == pytest.approx(300.0)  # 0.6 s over 2 calls, in ms
    assert got["dlq_depth"] == 7  # the two queues matched, not the third
    assert shown(BOARD.figures[3], got["breaker_state"]) == "open"
    assert values(BOARD, first, None)["order_rate"] is None  # no previous reading: no rate yet


@pytest.mark.unit
def test_a_service_down_gives_no_figure_and_a_restarted_counter_no_rate():
    clock = Clock()
    services = FakeServices(front=exposition(50))
    before = read(BOARD, services, clock)
    clock.t += 1
    services.answers["front"] = exposition(2)  # restarted: its counters begin again
    got = values(BOARD, read(BOARD, services, clock), before)
    assert got["order_rate"] is None
    assert got["dlq_depth"] is None  # `back` is down
    assert shown(BOARD.figures[5], got["dlq_depth"]) == "-"
    assert shown(BOARD.figures[0], 12.0) == "12" and shown(BOARD.figures[2], 2.345) == "2.3"


@pytest.mark.unit
def test_faults_are_the_switches_that_are_on():
    assert faults({"faults": {"delay_ms": 200, "force_failure": False}}) == ["delay_ms=200"]
    assert faults({"faults": {"force_failure": True}}) == ["force_failure=true"]
    assert faults(None) == [] and faults({"status": "ok"}) == []


@pytest.mark.unit
def test_the_history_is_bounded_and_read_after_a_time():
    clock = Clock()
    sampler = Sampler(BOARD, FakeServices(front=exposition(1), back=QUEUES), interval_s=1, history_s=5, clock=clock)
    for i in range(8):
        clock.t = 1000.0 + i
        sampler.sample()
    state = sampler.state()
    assert state["history"]["t"] == [1003.0, 1004.0, 1005.0, 1006.0, 1007.0]  # the last 5 s only
    assert sampler.state(since=1005.0)["history"]["t"] == [1006.0, 1007.0]
    assert state["services"][1] == {"name": "back", "up": True, "metrics": True, "faults": ["delay_ms=200"]}
    assert sampler.watched()


@pytest.mark.unit
def test_a_board_refuses_a_figure_without_its_source_or_a_chart_without_its_figure():
    with pytest.raises(ValueError, match="no source"):
        Board("x", "x", {"a": "order_url"}, (Figure("f", "f", "b", "m"),))
    with pytest.raises(ValueError, match="no figure"):
        Board("x", "x", {"a": "order_url"}, (Figure("f", "f", "a", "m"),), (Chart("c", ("g",)),))
    with pytest.raises(ValueError, match="unknown kind"):
        Figure("f", "f", "a", "m", kind="median")


@pytest.fixture
def client():
    app, (sampler,) = build(Settings(), BOARD, FakeServices(front=exposition(4), back=QUEUES))
    sampler.sample()
    return app.test_client()


@pytest.mark.service
def test_the_page_is_self_contained(client):
    resp = client.get("/")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(?!data:)", html)  # no file from anywhere
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    layout = re.search(r'<script type="application/json" id="layout">(.*?)</script>', html, re.S).group(1)
    assert [f["name"] for f in json.loads(layout)["figures"]] == [f.name for f in BOARD.figures]
    assert "</script> board" not in html  # neither the title nor a label can close an element


@pytest.mark.service
def test_the_state_endpoint(client):
    state = client.get("/api/state").get_json()
    assert state["text"]["orders_confirmed"] == "4" and state["text"]["breaker_state"] == "closed"
    assert len(state["history"]["t"]) == 1
    assert client.get(f"/api/state?since={state['at']}").get_json()["history"]["t"] == []
    for bad in ("abc", "nan", "inf", ""):
        resp = client.get(f"/api/state?since={bad}")
        assert resp.status_code == 400 and resp.get_json()["error"] == "validation_error", bad
    assert client.get("/health").status_code == 200


@pytest.mark.unit
@pytest.mark.parametrize("module, names", [
    ("sync_rest.dashboard.app", {"orders_confirmed", "orders_failed", "breaker_state"}),
    ("async_rabbitmq.dashboard.app", {"orders_confirmed", "orders_failed", "queue_depth", "dlq_depth"}),
    ("streaming_kafka.dashboard.app", {"orders_confirmed", "orders_failed", "lag_inventory", "lag_analytics"}),
])
def test_each_part_shows_the_contracts_figures(module, names):
    import importlib

    board = importlib.import_module(module).BOARD
    assert names <= {f.name for f in board.figures}
    assert set(board.sources.values()) <= set(Settings.model_fields)


@pytest.mark.unit
def test_the_sampler_samples_often_only_while_polled():
    import threading
    import time

    sampler = Sampler(BOARD, FakeServices(front=exposition(1), back=QUEUES), interval_s=0.05, idle_s=30)
    thread = threading.Thread(target=sampler.run)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not sampler._history and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # six intervals
        assert len(sampler.state()["history"]["t"]) == 1  # unwatched: one sample, then idle
        deadline = time.monotonic() + 5
        while len(sampler.state()["history"]["t"]) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)  # polled now: it wakes and samples every interval_s
        assert len(sampler.state()["history"]["t"]) >= 4
    finally:
        sampler.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


@pytest.mark.unit
def test_a_gauge_missing_from_an_answer_keeps_its_last_value_a_few_seconds_and_none_when_its_service_is_down():
    clock = Clock()
    services = FakeServices(front=exposition(1, breaker=1), back=QUEUES)
    sampler = Sampler(BOARD, services, hold_s=5, clock=clock)
    assert sampler.sample()["figures"]["breaker_state"] == 1
    services.answers["front"] = exposition(2).replace("circuit_breaker_state 0", "")  # answered, gauge absent
    clock.t += 3
    assert sampler.sample()["figures"]["breaker_state"] == 1
    clock.t += 3  # six seconds since it was last read
    assert sampler.sample()["figures"]["breaker_state"] is None
    services.answers["front"] = exposition(3, breaker=1)
    clock.t += 1
    assert sampler.sample()["figures"]["breaker_state"] == 1
    del services.answers["front"]  # down: nothing held
    clock.t += 1
    assert sampler.sample()["figures"]["breaker_state"] is None
