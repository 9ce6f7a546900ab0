"""Queue depths read from RabbitMQ's management API at each scrape of the entry service's /metrics (it stays
up while inventory is down, so the backlog of `inventory_orders` shows while it grows). A short timeout: a
broker that does not answer gives `broker_scrape_ok 0` and no depth, never a slow or failed scrape."""
from __future__ import annotations

import requests
from prometheus_client.core import GaugeMetricFamily

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.nodes import nodes
from common.metrics import gauge
from common.settings import Settings

QUEUES = (topology.INVENTORY_ORDERS, topology.ORDERS_DLQ, topology.EVENTS_DLQ)
TIMEOUT_S = 1.0


def read_queues(settings: Settings, session: requests.Session) -> dict[str, dict]:
    """name -> the management API's figures of each of QUEUES, from the first node that answers."""
    last: Exception | None = None
    for node in nodes(settings):
        try:
            r = session.get(f"http://{node.host}:{node.mgmt_port}/api/queues/%2F",
                            params={"columns": "name,messages,messages_ready,messages_unacknowledged"},
                            auth=(settings.rabbitmq_user, settings.rabbitmq_password), timeout=TIMEOUT_S)
            r.raise_for_status()
            return {q["name"]: q for q in r.json() if isinstance(q, dict) and q.get("name") in QUEUES}
        except (requests.RequestException, ValueError) as exc:
            last = exc
    raise last or RuntimeError("no broker node configured")


def queue_figures(settings: Settings, session: requests.Session | None = None):
    """A scrape-time collector: `broker_queue_messages{queue}` (ready + unacked) and `..._ready{queue}`."""
    session = session or requests.Session()

    def collect():
        try:
            queues = read_queues(settings, session)
        except (requests.RequestException, ValueError, RuntimeError):
            yield gauge("broker_scrape_ok", "1 when the broker's management API answered this scrape", 0)
            return
        yield gauge("broker_scrape_ok", "1 when the broker's management API answered this scrape", 1)
        total = GaugeMetricFamily("broker_queue_messages", "Messages in the queue (ready + unacknowledged)",
                                  labels=["queue"])
        ready = GaugeMetricFamily("broker_queue_messages_ready", "Messages ready for delivery in the queue",
                                  labels=["queue"])
        for name in QUEUES:
            q = queues.get(name)
            if q is not None:
                total.add_metric([name], q.get("messages") or 0)
                ready.add_metric([name], q.get("messages_ready") or 0)
        yield total
        yield ready

    return collect
