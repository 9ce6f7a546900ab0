"""Part A benchmark (needs the native stack up): the order chain against a bare single HTTP hop to a
minimal Flask app under the same server, sequential latency and orders/s with 1, 8 and 32 clients; and its
latency against three bare hops (client -> relay -> echo, relay -> echo: the chain's shape with no service in it)."""
from __future__ import annotations

from common.menu import ITEMS
from common.settings import Settings, get_settings
from labkit.benchkit import echo_server, latencies, ratio, three_bare_hops, throughput

ORDER = {"student_id": "bench", "item": "pizza", "quantity": 1}
BIG_STOCK = {item: 10**9 for item in ITEMS}


def run(settings: Settings | None = None, n: int = 1000, per_level: int = 1200, echo_port: int = 6009,
        progress=print) -> dict:
    import requests

    settings = settings or get_settings()
    order_url = settings.order_url.rstrip("/") + "/order"
    requests.post(settings.inventory_url.rstrip("/") + "/admin/reset", json={"stock": BIG_STOCK}, timeout=5)

    def order(session):
        r = session.post(order_url, json=ORDER, timeout=30)
        assert r.status_code == 201, r.text

    with echo_server(echo_port) as echo:
        def hop(session):
            assert session.post(f"{echo}/echo", json=ORDER, timeout=30).status_code == 201

        progress("  sequential latency: order chain vs single hop vs three bare hops")
        chain, single = latencies(order, n, "order chain"), latencies(hop, n, "single hop")
        with three_bare_hops(echo_port + 10) as relay:
            three = latencies(lambda session: _created(session.post(relay, json=ORDER, timeout=30)), n, "three hops")
        levels = []
        for clients in (1, 8, 32):
            progress(f"  throughput with {clients} concurrent clients")
            o = throughput(order, clients, per_level, f"orders x{clients}")
            e = throughput(hop, clients, per_level, f"echo x{clients}")
            levels.append({"clients": clients, "orders_per_s": o, "single_hop_per_s": e, "ratio": ratio(o, e)})
    requests.post(settings.inventory_url.rstrip("/") + "/admin/reset", json={}, timeout=5)
    return {
        "latency_ms": {"order_chain": chain, "single_hop": single, "three_bare_hops": three,
                       "ratio_p50": ratio(chain["median"], single["median"]),
                       "ratio_p99": ratio(chain["p99"], single["p99"]),
                       "ratio_p50_three_hops": ratio(chain["median"], three["median"]),
                       "ratio_p99_three_hops": ratio(chain["p99"], three["p99"])},
        "throughput": levels,
        "notes": "order chain = client -> order-service -> inventory-service (SQLite reservation) -> "
                 "notification-service; single hop = client -> minimal Flask app, same gunicorn settings; three bare hops = "
                 "client -> a relay app that posts the body to one echo app and then to another on pooled keep-alive "
                 "sessions (the chain's three hops, no parsing, storage or logging), same gunicorn settings.",
    }


def _created(response) -> None:
    assert response.status_code == 201, response.text
