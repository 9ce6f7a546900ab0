"""/bulk's chunked generation with a fake producer, and the lag table's shape."""
import json

import pytest

from common.ids import is_event_id, is_order_id
from common.settings import Settings
from streaming_kafka.events import BulkRequest, parse_order_placed
from streaming_kafka.lag import LagRow, format_table, total_lag
from streaming_kafka.producer_order.publisher import OrderPublisher
from streaming_kafka.topology import ORDER_TOPIC

pytestmark = pytest.mark.unit


def test_bulk_in_chunks(fake_producer):
    pub = OrderPublisher(Settings(bulk_chunk=7), factory=lambda bulk: fake_producer)
    res = pub.publish_bulk(BulkRequest(count=50, fail_rate=0.5, seed=3))
    assert res["published"] == 50 == len(fake_producer.sent)
    events = [parse_order_placed(v) for _, _, v, _ in fake_producer.sent]
    assert all(t == ORDER_TOPIC for t, *_ in fake_producer.sent)
    assert all(k.decode() == e.order_id for (_, k, _, _), e in zip(fake_producer.sent, events, strict=True))
    assert all(is_order_id(e.order_id) and is_event_id(e.event_id) for e in events)
    assert len({e.event_id for e in events}) == 50
    assert sum(e.force_fail for e in events) == res["force_fail_flagged"]
    # the same seed, the same events flagged (comparing the counts alone passes by chance one run in nine)
    second = type(fake_producer)()
    again = OrderPublisher(Settings(bulk_chunk=7), factory=lambda bulk: second)
    again.publish_bulk(BulkRequest(count=50, fail_rate=0.5, seed=3))
    assert [parse_order_placed(v).force_fail for _, _, v, _ in second.sent] == [e.force_fail for e in events]


def test_lag_table():
    rows = [LagRow("g", "OrderEvents", 0, 5, 9, 4), LagRow("g", "OrderEvents", 1, None, 0, 0)]
    text = format_table(rows)
    assert text.splitlines()[0].split()[:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET",
                                                 "LAG"]
    assert total_lag(rows) == 4
    json.dumps([r.as_dict() for r in rows])
