import itertools
import re
import time
import uuid

import pytest
from pydantic import ValidationError

from common.ids import generate_event_id, generate_event_ids, generate_order_id, is_event_id, is_order_id, uuid7_hex
from common.settings import Settings, check_environment
from labkit.stats import percentile, summarize

pytestmark = pytest.mark.unit


def test_order_id_format_and_order():
    ids = [generate_order_id() for _ in range(200)]
    assert all(re.fullmatch(r"ORD-\d{13}-[0-9a-f]{8}", i) for i in ids)
    assert len(set(ids)) == 200
    assert [int(i.split("-")[1]) for i in ids] == sorted(int(i.split("-")[1]) for i in ids)
    assert all(is_order_id(i) for i in ids) and not is_order_id("ORD-1-x")


def test_event_id_is_32_lowercase_hex():
    ids = {generate_event_id() for _ in range(200)}
    assert len(ids) == 200 and all(is_event_id(i) for i in ids)
    assert not is_event_id("A" * 32) and not is_event_id(12)


def test_event_id_is_a_uuid7_of_the_clocks_millisecond(monkeypatch):
    clock = itertools.count(1_780_000_000_000_000_000, 1_500_000)  # ns, 1.5 ms apart
    monkeypatch.setattr(time, "time_ns", lambda: next(clock))
    ids = [generate_event_id() for _ in range(200)]
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert [int(i[:12], 16) for i in ids] == [1_780_000_000_000 + 3 * n // 2 for n in range(200)]
    assert ids == sorted(ids)  # time-ordered as text too: what the idempotency index sees
    assert len({i[13:] for i in ids}) == 200  # the random part differs


def test_event_ids_made_n_at_a_time_are_uuid7s_of_the_clocks_millisecond(monkeypatch):
    monkeypatch.setattr(time, "time_ns", lambda: 1_780_000_000_123_456_789)
    ids = generate_event_ids(300)
    assert len(set(ids)) == 300 and all(is_event_id(i) for i in ids)
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert {int(i[:12], 16) for i in ids} == {1_780_000_000_123}
    assert {i[16] for i in ids} == set("89ab")  # the variant digit takes each of its values (2 random bits)
    assert generate_event_ids(0) == []


def test_uuid7_hex_places_time_version_variant_and_random_bits():
    low = uuid7_hex(0x0123_4567_89AB, 0)
    high = uuid7_hex(0x0123_4567_89AB, (1 << 80) - 1)  # bits above the 74 random ones are ignored
    assert low == "0123456789ab" + "7000" + "8000000000000000"
    assert high == "0123456789ab" + "7fff" + "bfffffffffffffff"
    assert uuid.UUID(high).version == 7 and uuid.UUID(high).variant == uuid.RFC_4122


def test_settings_defaults_are_the_contract(monkeypatch):
    for name in Settings.model_fields:  # the defaults, whatever the caller's environment sets
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("SIMULATED_DELAY", raising=False)
    s = Settings()
    assert (s.order_port, s.inventory_port, s.notification_port) == (6000, 6001, 6002)
    assert s.inventory_timeout_s == 5.0 and s.force_failure is False and s.inventory_delay_ms == 0
    assert s.bind_host == "127.0.0.1" and s.inventory_url == "http://127.0.0.1:6001"
    assert (s.rabbitmq_port, s.rabbitmq_mgmt_port, s.kafka_bootstrap) == (5672, 15672, "127.0.0.1:29092")


def test_settings_read_environment(monkeypatch):
    monkeypatch.setenv("FORCE_FAILURE", "true")
    monkeypatch.setenv("INVENTORY_DELAY_MS", "2000")
    monkeypatch.setenv("INVENTORY_PORT", "7101")
    s = Settings()
    assert s.force_failure is True and s.inventory_delay_ms == 2000
    assert s.inventory_url == "http://127.0.0.1:7101"


def test_simulated_delay_is_the_original_labs_alias_of_inventory_delay_ms(monkeypatch):
    monkeypatch.delenv("INVENTORY_DELAY_MS", raising=False)
    monkeypatch.setenv("SIMULATED_DELAY", "2")  # seconds, as the original's compose override sets it
    assert Settings().inventory_delay_ms == 2000
    monkeypatch.setenv("SIMULATED_DELAY", "0.25")
    assert Settings().inventory_delay_ms == 250
    monkeypatch.setenv("INVENTORY_DELAY_MS", "0")  # what the compose files pass when no delay is asked for
    assert Settings().inventory_delay_ms == 250
    monkeypatch.setenv("INVENTORY_DELAY_MS", "40")  # a non-zero INVENTORY_DELAY_MS wins
    assert Settings().inventory_delay_ms == 40
    monkeypatch.delenv("INVENTORY_DELAY_MS")
    monkeypatch.setenv("SIMULATED_DELAY", "")  # compose's ${SIMULATED_DELAY:-} when unset
    assert Settings().inventory_delay_ms == 0
    monkeypatch.setenv("SIMULATED_DELAY", "-1")
    with pytest.raises(ValidationError):
        Settings()


def test_simulated_delay_is_a_fault_switch_cleared_on_restart():
    from common.faults import without_faults

    env = {"SIMULATED_DELAY": "2", "INVENTORY_DELAY_MS": "5", "ORDER_PORT": "1"}
    assert without_faults(env) == {"ORDER_PORT": "1"}


def test_menu_and_stock_defaults():
    from common.menu import INITIAL_STOCK, uniform_stock

    assert dict(INITIAL_STOCK) == {"pizza": 100, "burger": 100, "salad": 100, "soda": 200, "coffee": 200, "fries": 100}
    s = Settings()
    # Part C: the original's load test (10,000 orders of 1-3 units over 6 items) must not run out of stock.
    assert s.kafka_initial_stock >= 10_000 * 3
    assert dict(uniform_stock(s.kafka_initial_stock)) == dict.fromkeys(INITIAL_STOCK, s.kafka_initial_stock)


def test_settings_reject_nonsense(monkeypatch):
    monkeypatch.setenv("INVENTORY_DELAY_MS", "-5")
    with pytest.raises(ValidationError):
        Settings()


def test_percentile_and_summary():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95 and percentile(values, 100) == 100
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert (s.min, s.max, s.mean, s.median, s.n) == (1.0, 4.0, 2.5, 2.5, 4)
    with pytest.raises(ValueError):
        summarize([])


def test_the_kafka_bootstrap_list_is_derived_once_in_settings():
    one = Settings(kafka_bootstrap="10.0.0.5:29092")
    assert one.kafka_servers == ["10.0.0.5:29092"]
    three = Settings(kafka_bootstrap="10.0.0.5:29092", cluster_size=3)
    assert three.kafka_servers == ["10.0.0.5:29092", "10.0.0.5:29094", "10.0.0.5:29096"]
    assert one.with_cluster_size(3).kafka_servers == three.kafka_servers
    assert three.with_cluster_size(1).kafka_servers == ["10.0.0.5:29092"]
    named = Settings(kafka_bootstrap="kafka:9092,kafka-2:9092")  # compose names every broker: kept as given
    assert named.kafka_servers == ["kafka:9092", "kafka-2:9092"]


def test_the_cluster_size_is_read_from_brokers(monkeypatch):
    monkeypatch.setenv("BROKERS", "3")
    monkeypatch.setenv("CLUSTER_SIZE", "2")  # the field's own name is not an environment variable
    assert Settings().cluster_size == 3
    check_environment({"BROKERS": "3"})
    with pytest.raises(ValueError, match="BROKERS='9'"):
        check_environment({"BROKERS": "9"})
