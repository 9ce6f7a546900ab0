import pytest

from common.idempotency import IdempotencyStore
from common.settings import Settings
from common.stock import StockStore
from common.vocabulary import ReservationOutcome
from sync_rest.inventory_service.app import build as build_inventory
from sync_rest.notification_service.app import build as build_notification
from sync_rest.order_service import clients
from sync_rest.order_service.app import create_app as order_app
from sync_rest.order_service.breaker import CircuitBreaker
from sync_rest.order_service.orders import OrderDesk


class FakeInventory:
    """Stands in for inventory-service: answers from a real StockStore, no network."""

    def __init__(self, store: StockStore):
        self.store = store

    def reserve(self, order_id, item, quantity):
        r = self.store.reserve(item, quantity, key=order_id)
        outcome = ReservationOutcome.RESERVED if r.ok else ReservationOutcome.OUT_OF_STOCK
        return clients.InventoryAnswer(outcome, remaining=r.remaining)


class FakeNotifier:
    def send(self, order_id, student_id, message):
        return True


def make_settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path, log_format="text", **kw)


@pytest.fixture
def inventory(tmp_path):
    return build_inventory(make_settings(tmp_path, admin_api=True))[0].test_client()


@pytest.fixture
def notification(tmp_path):
    return build_notification(make_settings(tmp_path))[0].test_client()


@pytest.fixture
def stock_store(tmp_path):
    return StockStore(tmp_path / "fake-inventory.db")


@pytest.fixture
def order(tmp_path, stock_store):
    s = make_settings(tmp_path)
    desk = OrderDesk(FakeInventory(stock_store), FakeNotifier(), CircuitBreaker(5, 10),
                     IdempotencyStore(tmp_path / "orders.db", 60), wait_busy_s=1)
    return order_app(s, desk=desk).test_client()
