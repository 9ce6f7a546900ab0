"""The cluster's pure parts: settings and broker config per node, topic replication, the failover arithmetic."""
import pytest

from common.settings import Settings
from streaming_kafka.broker.native import Broker, kafka_services, service_name
from streaming_kafka.failover import Sample, busiest_leader, progress_times
from streaming_kafka.kafka_io import producer_config
from streaming_kafka.topology import replication, topic_specs

pytestmark = pytest.mark.unit


def test_one_broker_stays_the_default():
    s = Settings(kafka_bootstrap="127.0.0.1:7692")
    assert s.brokers == 1 and s.kafka_bootstrap == "127.0.0.1:7692"
    assert replication(s) == (1, 1)
    assert [svc.name for svc in kafka_services(s)] == ["kafka"]
    assert producer_config(s)["retries"] == 5


def test_three_brokers_every_client_knows_every_broker():
    s = Settings(brokers=3, kafka_bootstrap="127.0.0.1:7692", kafka_controller_port=7693)
    assert s.kafka_bootstrap == "127.0.0.1:7692,127.0.0.1:7694,127.0.0.1:7696"
    assert Settings(brokers=3, kafka_bootstrap="a:1,b:2").kafka_bootstrap == "a:1,b:2"  # an explicit list stays
    services = kafka_services(s)
    assert [svc.name for svc in services] == ["kafka", "kafka-2", "kafka-3"] == [service_name(n) for n in (1, 2, 3)]
    assert [(svc.port, svc.extra_ports) for svc in services] == [(7692, (7693,)), (7694, (7695,)), (7696, (7697,))]
    assert all(svc.env["BROKERS"] == "3" for svc in services)
    assert all("-Xmx384m" in svc.argv for svc in services)
    assert "-Xmx256m" in kafka_services(s.model_copy(update={"kafka_heap": "256m"}))[0].argv


def test_cluster_node_config(tmp_path):
    s = Settings(brokers=3, run_dir=tmp_path, kafka_bootstrap="127.0.0.1:7692", kafka_controller_port=7693)
    b = Broker(s, 2)
    b.write_config()
    conf = dict(line.split("=", 1) for line in b.config.read_text().splitlines() if "=" in line and line[0] != "#")
    assert conf["node.id"] == "2"
    assert conf["controller.quorum.voters"] == "1@127.0.0.1:7693,2@127.0.0.1:7695,3@127.0.0.1:7697"
    assert conf["listeners"] == "PLAINTEXT://127.0.0.1:7694,CONTROLLER://127.0.0.1:7695"
    assert (conf["min.insync.replicas"], conf["offsets.topic.replication.factor"]) == ("2", "3")
    assert conf["unclean.leader.election.enable"] == "false"
    assert b.data.parent == tmp_path / "streaming-kafka" / "cluster" / "kafka-2"
    assert Broker(Settings(run_dir=tmp_path), 1).home == tmp_path / "streaming-kafka" / "kafka"


def test_topics_replicated_three_times_two_in_sync():
    specs = topic_specs(Settings(brokers=3))
    assert {t.replication_factor for t in specs} == {3}
    assert {t.topic_configs["min.insync.replicas"] for t in specs} == {"2"}
    cfg = producer_config(Settings(brokers=3))
    assert cfg["acks"] == "all" and cfg["retries"] > 5 and cfg["request_timeout_ms"] > 15_000


def test_busiest_leader_lowest_id_on_a_tie():
    parts = {p: {"leader": leader} for p, leader in enumerate([1, 2, 3, 3, 2, -1])}
    assert busiest_leader(parts) == 2
    assert busiest_leader({0: {"leader": 3}, 1: {"leader": 3}, 2: {"leader": 1}}) == 3


def test_progress_is_where_the_processed_count_grew():
    counts = [0, 10, 20, 20, 20, 20, 25, 25, 40]
    samples = [Sample(t * 0.5, n, None) for t, n in enumerate(counts)]
    samples.insert(4, Sample(1.75, None, None))  # inventory not answering: no information
    assert progress_times(samples) == [0.0, 0.5, 1.0, 3.0, 4.0]  # the first known count, then each growth
    assert progress_times([Sample(0.0, None, None), Sample(0.5, 7, None), Sample(1.0, 7, None)]) == [0.5]
    # (the longest pause between these times is common.progress.longest_pause, tested in common/tests)


def test_the_cluster_size_comes_from_brokers_or_else_from_the_running_stack(tmp_path, monkeypatch):
    """make test and make demo ran every native Part C stack on five brokers: with no part running, the
    runtime answers STOPPED for any program name, which read as "kafka-5 exists"."""
    from common.runtime.control import Part
    from streaming_kafka import stack

    s = Settings(run_dir=tmp_path)
    assert stack.cluster_size(s) == 1  # nothing running: the BROKERS default
    assert stack.cluster_size(Settings(run_dir=tmp_path, brokers=3)) == 3
    programs = {"kafka": "RUNNING", "kafka-2": "RUNNING", "kafka-3": "STOPPED"}  # a cluster of 3, one node down
    monkeypatch.setattr(Part, "alive", lambda self: True)
    monkeypatch.setattr(Part, "state", lambda self, name: programs.get(name, "UNKNOWN"))
    assert stack.cluster_size(s) == 3


def _failover(**changes):
    from dataclasses import replace

    from streaming_kafka.failover import Failover

    held = Failover(
        count=10, victim=2, leaders_before={0: 2, 1: 1}, leaders_after={0: 1, 1: 1}, killed_at=3.0,
        leader_change_at=4.0, restarted_at=9.0, restart_seconds=2.0, back_in_isr_at=12.0, stall=(3.0, 5.0, 2.0),
        bulk={"published": 10}, produced_when_killed=4, processed_when_killed=3,
        delta={"orders": 10, "reserved": 8, "failed": 2, "pending": 0, "units": {"pizza": 8}},
        stock_before={"pizza": 100}, stock_after={"pizza": 92},
        store={"counts": {"reserved": 8, "failed": 2}, "reserved_units": {"pizza": 8}}, lost=0,
        replay_equals_live=True, seconds_to_lag0=20.0)
    return replace(held, **changes)


def test_failover_unmet_is_empty_when_every_guarantee_holds_and_names_each_broken_one():
    assert _failover().unmet() == []
    assert _failover(lost=1).unmet() == ["nothing lost (1)"]
    assert [u.split(" (")[0] for u in _failover(
        bulk={"published": 9}, victim=3, store={"counts": {"reserved": 9, "failed": 2}, "reserved_units": {"pizza": 8}},
        stock_after={"pizza": 91}, replay_equals_live=False, stall=(3.0, 2.5, 0.5),
        delta={"orders": 10, "reserved": 8, "failed": 1, "pending": 1, "units": {"pizza": 8}}).unmet()] == [
        "every event published", "the killed broker led partitions", "each order reserved or failed, none pending",
        "one reservation record per event, none twice", "stock arithmetic exact", "replay equals live",
        "progress resumed after the kill"]


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch, tmp_path):
    """kafka-storage reads `-t -nRU...` as an option and fails ("expected one argument"): one random id in 64
    starts with "-", and a cluster's id is kept on disk, so its every later `up` failed. Kafka's own
    Uuid.randomUuid() draws again in that case; so does the broker here."""
    import uuid

    from streaming_kafka.broker import native

    dashed = uuid.UUID(bytes=b"\xf9" + b"\x00" * 15)  # base64url "-Q..."
    draws = iter([dashed, uuid.UUID(int=1)])
    monkeypatch.setattr(native.uuid, "uuid4", lambda: next(draws))
    ran = []
    monkeypatch.setattr(native.subprocess, "run", lambda argv, **kw: ran.append(argv))
    broker = Broker(Settings(run_dir=tmp_path, data_dir=tmp_path, brokers=3, kafka_bootstrap="127.0.0.1:7692"), 1)
    broker.format_storage()
    cluster_id = ran[0][ran[0].index("-t") + 1]
    assert not cluster_id.startswith("-") and broker.cluster_id_file.read_text() == cluster_id
