"""The order service's inventory client and breaker against a misbehaving inventory on a loopback socket:
a broken chunked answer and a body that is JSON but not an object become values, never exceptions, and
the breaker opens on them and closes once inventory answers properly."""
import itertools
import socket
import threading

import pytest

from common.idempotency import IdempotencyStore
from common.schemas import parse_order
from common.settings import Settings
from sync_rest.order_service import clients
from sync_rest.order_service.breaker import CircuitBreaker
from sync_rest.order_service.orders import OrderDesk

pytestmark = pytest.mark.integration

ANSWERS = {
    "broken": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"ff\r\n{\"status\": \"res",  # promised 255 bytes, then the connection is closed
    "list": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 6\r\nConnection: close\r\n\r\n[1, 2]",
    "ok": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 38\r\nConnection: close\r\n\r\n"
          b"{\"status\": \"reserved\", \"remaining\": 9}",
}


@pytest.fixture
def inventory():
    """A raw socket server answering each request with the next scripted answer (bounded: it stops itself)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)
    script: list[str] = []

    def run():
        while script:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next((h.split(b":")[1] for h in head.split(b"\r\n")
                                   if h.lower().startswith(b"content-length")), b"0"))
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(ANSWERS[script.pop(0)])

    def start(*answers):
        script.extend(answers)
        threading.Thread(target=run, daemon=True).start()
        return f"http://127.0.0.1:{srv.getsockname()[1]}"

    yield start
    script.clear()
    srv.close()


def test_broken_and_non_object_answers_trip_the_breaker_and_a_good_one_closes_it(inventory, tmp_path):
    url = inventory("broken", "list", "ok")
    s = Settings(inventory_url=url, data_dir=tmp_path, connect_timeout_s=2, inventory_timeout_s=5)
    client = clients.InventoryClient(s)
    ticks = itertools.count(step=100)  # each reading of the clock is one full cool-down later
    breaker = CircuitBreaker(1, 100, clock=lambda: next(ticks), probe_timeout_s=1000)
    desk = OrderDesk(client, type("N", (), {"send": lambda *a: True})(), breaker,
                     IdempotencyStore(tmp_path / "i.db", 60), wait_busy_s=1)
    order = parse_order({"student_id": "s", "item": "pizza", "quantity": 1})
    first = desk.place(order)  # ChunkedEncodingError in requests
    assert (first.status, first.body["reason"]) == (422, "service_error") and "broken" in first.body["detail"]
    assert breaker.snapshot().state == "open"
    second = desk.place(order)  # the probe: 200 with a JSON list
    assert (second.status, second.body["reason"]) == (422, "service_error"), second.body["detail"]
    assert breaker.snapshot().state == "open"
    third = desk.place(order)  # the next probe: a proper answer closes the breaker
    assert third.status == 201 and breaker.snapshot().state == "closed"
