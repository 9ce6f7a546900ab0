import pytest

from common.idempotency import Busy, IdempotencyStore, Mismatch, Proceed, Replay, fingerprint

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path):
    return IdempotencyStore(tmp_path / "o.db", stale_after_s=30)


def test_first_claim_proceeds_then_final_answer_replays(store):
    fp = fingerprint({"a": 1})
    c = store.claim("k", fp)
    assert isinstance(c, Proceed) and not c.retry
    assert isinstance(store.claim("k", fp), Busy)
    store.finish("k", 201, {"order_id": c.order_id}, final=True)
    r = store.claim("k", fp)
    assert isinstance(r, Replay) and (r.status, r.body) == (201, {"order_id": c.order_id})


def test_transient_answer_lets_a_retry_run_with_the_same_order_id(store):
    fp = fingerprint({"a": 1})
    first = store.claim("k", fp)
    store.finish("k", 504, {"reason": "inventory_timeout"}, final=False)
    again = store.claim("k", fp)
    assert isinstance(again, Proceed) and again.retry and again.order_id == first.order_id


def test_key_with_other_body_is_a_mismatch(store):
    store.claim("k", fingerprint({"a": 1}))
    assert isinstance(store.claim("k", fingerprint({"a": 2})), Mismatch)


def test_abandoned_claim_becomes_retryable(tmp_path):
    store = IdempotencyStore(tmp_path / "o.db", stale_after_s=0)
    first = store.claim("k", "fp")
    again = store.claim("k", "fp")
    assert isinstance(again, Proceed) and again.order_id == first.order_id


def test_fingerprint_ignores_key_order():
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
