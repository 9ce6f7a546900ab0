"""Part A benchmark (needs the native stack up): the order chain against a bare single HTTP hop to a
minimal Flask app under the same server, sequential latency and orders/s with 1, 8 and 32 clients."""
from __future__ import annotations

from common.menu import ITEMS
from common.settings import Settings, get_settings
from labkit.benchkit import echo_server, latencies, ratio, throughput

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

        progress("  sequential latency: order chain vs single hop")
        chain, single = latencies(order, n, "order chain"), latencies(hop, n, "single hop")
        levels = []
        for clients in (1, 8, 32):
            progress(f"  throughput with {clients} concurrent clients")
            o = throughput(order, clients, per_level, f"orders x{clients}")
            e = throughput(hop, clients, per_level, f"echo x{clients}")
            levels.append({"clients": clients, "orders_per_s": o, "single_hop_per_s": e, "ratio": ratio(o, e)})
    requests.post(settings.inventory_url.rstrip("/") + "/admin/reset", json={}, timeout=5)
    return {
        "latency_ms": {"order_chain": chain, "single_hop": single,
                       "ratio_p50": ratio(chain["median"], single["median"]),
                       "ratio_p99": ratio(chain["p99"], single["p99"])},
        "throughput": levels,
        "notes": "order chain = client -> order-service -> inventory-service (SQLite reservation) -> "
                 "notification-service; single hop = client -> minimal Flask app, same gunicorn settings.",
    }
