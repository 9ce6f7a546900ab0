"""The order desk with fake downstream clients: the contract's status mapping, best-effort notification,
the breaker short-circuit and idempotent retries, with no network."""
import pytest

from common.idempotency import IdempotencyStore
from common.schemas import parse_order
from common.vocabulary import ReservationOutcome
from sync_rest.order_service import clients
from sync_rest.order_service.breaker import CircuitBreaker
from sync_rest.order_service.orders import OrderDesk

pytestmark = pytest.mark.unit

ORDER = parse_order({"student_id": "s", "item": "pizza", "quantity": 2})


class FakeInventory:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def reserve(self, order_id, item, quantity):
        self.calls.append(order_id)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class FakeNotifier:
    def __init__(self, ok=True):
        self.ok = ok
        self.sent = []

    def send(self, order_id, student_id, message):
        self.sent.append(order_id)
        return self.ok


def desk(tmp_path, inventory, notifier=None, threshold=5):
    return OrderDesk(inventory, notifier or FakeNotifier(), CircuitBreaker(threshold, 60),
                     IdempotencyStore(tmp_path / "i.db", 60), wait_busy_s=1)


@pytest.mark.parametrize("outcome, status", [
    (ReservationOutcome.RESERVED, 201), (ReservationOutcome.OUT_OF_STOCK, 409), (ReservationOutcome.SERVICE_ERROR, 422),
    (ReservationOutcome.INVENTORY_UNAVAILABLE, 503), (ReservationOutcome.INVENTORY_TIMEOUT, 504),
])
def test_status_mapping(tmp_path, outcome, status):
    reply = desk(tmp_path, FakeInventory(clients.InventoryAnswer(outcome))).place(ORDER)
    assert reply.status == status
    if status == 201:
        assert reply.body["status"] == "confirmed" and reply.body["notification"] == "sent"
        assert (reply.body["item"], reply.body["quantity"]) == ("pizza", 2)
    else:
        assert reply.body["status"] == "failed" and reply.body["reason"] == outcome


def test_notification_failure_still_confirms(tmp_path):
    inv = FakeInventory(clients.InventoryAnswer(ReservationOutcome.RESERVED))
    reply = desk(tmp_path, inv, FakeNotifier(ok=False)).place(ORDER)
    assert reply.status == 201 and reply.body["notification"] == "failed"


def test_open_breaker_fails_fast_without_calling_inventory(tmp_path):
    inv = FakeInventory(clients.InventoryAnswer(ReservationOutcome.INVENTORY_TIMEOUT))
    d = desk(tmp_path, inv, threshold=2)
    assert [d.place(ORDER).status for _ in range(4)] == [504, 504, 503, 503]
    assert len(inv.calls) == 2
    reply = d.place(ORDER)
    assert reply.body["circuit"] == "open" and reply.body["reason"] == "inventory_unavailable"
    assert int(reply.headers["Retry-After"]) >= 1


def test_out_of_stock_does_not_trip_the_breaker(tmp_path):
    d = desk(tmp_path, FakeInventory(clients.InventoryAnswer(ReservationOutcome.OUT_OF_STOCK)), threshold=1)
    assert [d.place(ORDER).status for _ in range(3)] == [409, 409, 409]


def test_idempotent_retry_reuses_order_id_after_timeout(tmp_path):
    inv = FakeInventory(clients.InventoryAnswer(ReservationOutcome.INVENTORY_TIMEOUT),
                        clients.InventoryAnswer(ReservationOutcome.RESERVED))
    d = desk(tmp_path, inv)
    first, second, third = (d.place(ORDER, key="k") for _ in range(3))
    assert (first.status, second.status, third.status) == (504, 201, 201)
    assert inv.calls[0] == inv.calls[1] and len(inv.calls) == 2  # third was replayed
    assert third.headers == {"Idempotent-Replayed": "true"} and third.body == second.body


def test_key_reused_with_other_body_is_400(tmp_path):
    d = desk(tmp_path, FakeInventory(clients.InventoryAnswer(ReservationOutcome.RESERVED)))
    d.place(ORDER, key="k")
    other = parse_order({"student_id": "s", "item": "soda", "quantity": 1})
    assert d.place(other, key="k").status == 400


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


class ScriptedInventory:
    """Answers (or raises) the next scripted item on each call."""

    def __init__(self, *script):
        self.script = list(script)

    def reserve(self, order_id, item, quantity):
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


def test_a_probe_raising_anything_reopens_the_breaker_which_recovers_when_inventory_is_healthy(tmp_path):
    """Issue 10, defect 2: a probe that raised an unexpected exception left the breaker in half_open for good
    (every later order 503). Now any exception counts as a failure, and a later healthy probe closes it."""
    import requests

    clock = Clock()
    breaker = CircuitBreaker(1, 10, clock)
    inv = ScriptedInventory(clients.InventoryAnswer(ReservationOutcome.INVENTORY_UNAVAILABLE),
                            requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
                            AttributeError("'list' object has no attribute 'get'"),
                            clients.InventoryAnswer(ReservationOutcome.RESERVED))
    d = OrderDesk(inv, FakeNotifier(), breaker, IdempotencyStore(tmp_path / "i.db", 60), wait_busy_s=1)
    assert d.place(ORDER).status == 503 and breaker.snapshot().state == "open"
    for t in (10, 20):  # each cool-down lets one probe through; it raises; the order fails; the breaker reopens
        clock.t = t
        reply = d.place(ORDER)
        assert (reply.status, reply.body["reason"]) == (422, ReservationOutcome.SERVICE_ERROR)
        assert breaker.snapshot().state == "open"
        left = len(inv.script)
        assert d.place(ORDER).status == 503 and len(inv.script) == left  # refused at once, inventory not called
    clock.t = 30
    assert d.place(ORDER).status == 201 and breaker.snapshot().state == "closed"
    assert inv.script == []
