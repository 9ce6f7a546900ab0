"""The cluster's pure parts: settings and broker config per node, topic replication, the failover arithmetic."""
import pytest

from common.settings import Settings
from streaming_kafka.kafka_io import producer_config
from streaming_kafka.lab.broker.native import Broker, kafka_services, service_name
from streaming_kafka.lab.failover import Sample, busiest_leader, progress_times
from streaming_kafka.topology import replication, topic_specs

pytestmark = pytest.mark.unit


def test_one_broker_stays_the_default():
    s = Settings(kafka_bootstrap="127.0.0.1:7692")
    assert s.cluster_size == 1 and s.kafka_bootstrap == "127.0.0.1:7692"
    assert replication(s) == (1, 1)
    assert [svc.name for svc in kafka_services(s)] == ["kafka"]
    assert producer_config(s)["retries"] == 5


def test_three_brokers_every_client_knows_every_broker():
    s = Settings(cluster_size=3, kafka_bootstrap="127.0.0.1:7692", kafka_controller_port=7693)
    assert s.kafka_bootstrap == "127.0.0.1:7692,127.0.0.1:7694,127.0.0.1:7696"
    assert Settings(cluster_size=3, kafka_bootstrap="a:1,b:2").kafka_bootstrap == "a:1,b:2"  # an explicit list stays
    services = kafka_services(s)
    assert [svc.name for svc in services] == ["kafka", "kafka-2", "kafka-3"] == [service_name(n) for n in (1, 2, 3)]
    assert [(svc.port, svc.extra_ports) for svc in services] == [(7692, (7693,)), (7694, (7695,)), (7696, (7697,))]
    assert all(svc.env["BROKERS"] == "3" for svc in services)
    assert all("-Xmx384m" in svc.argv for svc in services)
    assert "-Xmx256m" in kafka_services(s.model_copy(update={"kafka_heap": "256m"}))[0].argv


def test_cluster_node_config(tmp_path):
    s = Settings(cluster_size=3, run_dir=tmp_path, kafka_bootstrap="127.0.0.1:7692", kafka_controller_port=7693)
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
    specs = topic_specs(Settings(cluster_size=3))
    assert {t.replication_factor for t in specs} == {3}
    assert {t.topic_configs["min.insync.replicas"] for t in specs} == {"2"}
    cfg = producer_config(Settings(cluster_size=3))
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
    # (the longest pause between these times is labkit.progress.longest_pause, tested in common/tests)


def test_the_cluster_size_comes_from_brokers_or_else_from_the_running_stack(tmp_path, monkeypatch):
    """make test and make demo ran every native Part C stack on five brokers: with no part running, the
    runtime answers STOPPED for any program name, which read as "kafka-5 exists"."""
    from labkit.runtime.control import Part
    from streaming_kafka.lab import stack

    s = Settings(run_dir=tmp_path)
    assert stack.cluster_size(s) == 1  # nothing running: the BROKERS default
    assert stack.cluster_size(Settings(run_dir=tmp_path, cluster_size=3)) == 3
    programs = {"kafka": "RUNNING", "kafka-2": "RUNNING", "kafka-3": "STOPPED"}  # a cluster of 3, one node down
    monkeypatch.setattr(Part, "alive", lambda self: True)
    monkeypatch.setattr(Part, "state", lambda self, name: programs.get(name, "UNKNOWN"))
    assert stack.cluster_size(s) == 3


def _samples(counts: list[int | None]) -> list[Sample]:
    """What the sampler records: every 0.5 s the count of processed orders (None: inventory not answering)."""
    return [Sample(round(i * 0.5, 2), n, None) for i, n in enumerate(counts)]


# Processed counts of a run that stalls after the kill (at 1.6 s, with 300 processed) and then resumes at 3.5 s.
RESUMED = [0, 100, 200, 300, 300, 300, 300, 450, 600, 750, 800, 800]


def _failover(counts: list[int | None] = RESUMED, killed_at: float = 1.6, processed_when_killed: int = 300,
              **changes):
    """A Failover as broker_failover builds it: the stall is computed from the samples by the scenario's code."""
    from dataclasses import replace

    from streaming_kafka.lab.failover import Failover, stall_after

    samples = _samples(counts)
    held = Failover(
        count=10, victim=2, leaders_before={0: 2, 1: 1, 2: 2}, leaders_at_kill={0: 2, 1: 1, 2: 2},
        leaders_moved={0: 1, 1: 1, 2: 3}, leaders_after={0: 1, 1: 1, 2: 3}, killed_at=killed_at,
        leader_change_at=4.0, restarted_at=9.0, restart_seconds=2.0, back_in_isr_at=12.0,
        stall=stall_after(samples, killed_at), bulk={"published": 10}, produced_when_killed=4,
        processed_when_killed=processed_when_killed,
        delta={"orders": 10, "reserved": 8, "failed": 2, "pending": 0, "units": {"pizza": 8}},
        stock_before={"pizza": 100}, stock_after={"pizza": 92},
        store={"counts": {"reserved": 8, "failed": 2}, "reserved_units": {"pizza": 8}}, lost=0,
        replay_equals_live=True, seconds_to_lag0=20.0, samples=samples)
    return replace(held, **changes)


def _unmet(f) -> list[str]:
    return [u.split(" (")[0] for u in f.unmet()]


def test_failover_unmet_is_empty_when_every_guarantee_holds_and_names_each_broken_one():
    f = _failover()
    assert f.stall == (1.6, 3.5, 1.9) and f.resumed
    assert f.unmet() == []
    assert f.victim_partitions == [0, 2]
    assert _failover(lost=1).unmet() == ["nothing lost (1)"]
    assert _unmet(_failover(
        bulk={"published": 9}, store={"counts": {"reserved": 9, "failed": 2}, "reserved_units": {"pizza": 8}},
        stock_after={"pizza": 91}, replay_equals_live=False,
        delta={"orders": 10, "reserved": 8, "failed": 1, "pending": 1, "units": {"pizza": 8}})) == [
        "every event published", "each order reserved or failed, none pending",
        "one reservation record per event, none twice", "stock arithmetic exact", "replay equals live"]


PROGRESS = "progress resumed after the kill"


@pytest.mark.parametrize("counts", [
    [0, 100, 200, 300, 300, 300, 300, 300, 300],  # nothing processed after the kill: the empty stall
    [0, 100, 200, 300, None, None, None, None],  # inventory never answered again
    # the count grew once after the kill, but only to what was read just before the kill (300), then stopped
    [0, 100, 200, 250, 300, 300, 300, 300],
])
def test_progress_after_the_kill_is_observed_not_implied_by_the_stall(counts):
    """The stall never ends before the kill (labkit.progress.longest_pause), so "stall end >= kill" held for a
    consumer that never processed anything again."""
    f = _failover(counts)
    assert f.stall[1] >= f.killed_at  # what the old check read: true whatever happened
    assert not f.resumed
    assert _unmet(f) == [PROGRESS]


def test_the_victim_must_have_led_partitions_at_the_kill_and_lost_them_to_other_brokers():
    """The victim is chosen as the busiest leader of `leaders_before`: checking that list proves nothing. The
    check reads the leaders the broker reported at the kill and after it."""
    led = "the killed broker led partitions at the kill, and other brokers took them over"
    # leadership moved off broker 2 between the choice and the kill (say a preferred-leader election)
    moved_early = _failover(leaders_at_kill={0: 1, 1: 1, 2: 3})
    assert moved_early.victim_partitions == [] and _unmet(moved_early) == [led]
    # p2 had no leader yet, or still the victim, in the metadata read after the kill
    assert _unmet(_failover(leaders_moved={0: 1, 1: 1, 2: -1})) == [led]
    assert _unmet(_failover(leaders_moved={0: 1, 1: 1, 2: 2})) == [led]
    assert _unmet(_failover(leaders_moved={0: 3, 1: 1})) == [led]


def _refusal(statuses: list[int]):
    from streaming_kafka.lab.failover import Attempt, Refusal

    detail = {503: "Kafka did not confirm the event: NotEnoughReplicasError",
              504: "Kafka did not acknowledge the event within 10 s (NotEnoughReplicasError)"}
    error = {503: "broker_unavailable", 504: "delivery_unknown"}
    refused = [Attempt(5.0 * (i + 1), s, {"error": error[s], "detail": detail[s]}) for i, s in enumerate(statuses)]
    return Refusal(stopped=["kafka-3", "kafka-2"], isr_when_down={0: [1]}, refused=refused, records_before=100,
                   records_after=100, refused_order_ids_in_log=0, restarted="kafka-2", resumed_after_s=8.5,
                   accepted=[Attempt(30.0, 202, {"order_id": "ORD-1"})], accepted_with_result=1)


def test_refusal_evidence_reports_the_statuses_the_run_got():
    """The figures line in docs/clusters.md names the statuses the run got, never a fixed "503" (a run may get
    504s, or both)."""
    from streaming_kafka.lab.evidence.failover import readme_block, render_refusal

    mixed = _refusal([503, 504, 503, 503])
    block = readme_block(_failover(bulk={"published": 10, "seconds": 1.0, "events_per_second": 10}), mixed)
    line = next(ln for ln in block.splitlines() if ln.startswith("- Two brokers down"))
    assert "4 of 4 writes refused (503 x3, 504 x1;" in line
    assert "  statuses: 503 x3, 504 x1" in render_refusal(mixed)
    assert "4 of 4 writes refused (504 x4;" in readme_block(_failover(bulk={}), _refusal([504] * 4))


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch, tmp_path):
    """kafka-storage reads `-t -nRU...` as an option and fails ("expected one argument"): one random id in 64
    starts with "-", and a cluster's id is kept on disk, so its every later `up` failed. Kafka's own
    Uuid.randomUuid() draws again in that case; so does the broker here."""
    import uuid

    from streaming_kafka.lab.broker import native

    dashed = uuid.UUID(bytes=b"\xf9" + b"\x00" * 15)  # base64url "-Q..."
    draws = iter([dashed, uuid.UUID(int=1)])
    monkeypatch.setattr(native.uuid, "uuid4", lambda: next(draws))
    ran = []
    monkeypatch.setattr(native.subprocess, "run", lambda argv, **kw: ran.append(argv))
    broker = Broker(Settings(run_dir=tmp_path, data_dir=tmp_path, cluster_size=3, kafka_bootstrap="127.0.0.1:7692"), 1)
    broker.format_storage()
    cluster_id = ran[0][ran[0].index("-t") + 1]
    assert not cluster_id.startswith("-") and broker.cluster_id_file.read_text() == cluster_id
