"""Both Kafka clients behind the seam against the real broker, whatever KAFKA_CLIENT says: one key lands on one
partition under both, a group resumes from its committed offsets after a rebalance, and a start offset chosen
in `on_assign` is where reading starts (librdkafka refuses a seek there: the seam sets it on the assignment)."""
import uuid

import pytest

from labkit.stack import wait_for
from streaming_kafka.kafka_io import BEGINNING, CLIENTS, TopicPartition, TopicSpec, make_admin, make_consumer, make_producer

pytestmark = pytest.mark.integration
PARTITIONS = 6


def new_topic(settings) -> str:
    name = f"seam-{uuid.uuid4().hex[:8]}"
    admin = make_admin(settings)
    try:
        admin.create_topics([TopicSpec(name, PARTITIONS, 1)])
        wait_for(lambda: len(admin.describe_topics([name]).get(name, ())) == PARTITIONS, 30, what="the topic")
    finally:
        admin.close()
    return name


@pytest.fixture
def topic(native_stack, settings):
    name = new_topic(settings)
    yield name
    admin = make_admin(settings)
    try:
        admin.delete_topics([name])
    finally:
        admin.close()


def produce(settings, topic: str, keys: list[bytes]) -> list[tuple[int, int]]:
    producer = make_producer(settings, bulk=True)
    try:
        futures = [producer.send(topic, key=k, value=k) for k in keys]
        producer.flush()
        return [(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]
    finally:
        producer.close()


def test_one_key_lands_on_the_same_partition_under_both_clients(settings, topic):
    keys = [f"ORD-{n}-{uuid.uuid4().hex[:8]}".encode() for n in range(300)]
    where = {c: [p for p, _ in produce(settings.model_copy(update={"kafka_client": c}), topic, keys)] for c in CLIENTS}
    assert where["kafka-python-ng"] == where["confluent"]
    assert len(set(where["confluent"])) == PARTITIONS  # the keys spread: not every key on one partition


def read(consumer, n: int, timeout: float = 60) -> list:
    got = []
    wait_for(lambda: got.extend(r for recs in consumer.poll(timeout_ms=500).values() for r in recs) or len(got) >= n,
             timeout, what=f"{n} records")
    return got


@pytest.mark.parametrize("client", CLIENTS)
def test_a_group_resumes_from_its_commits_and_on_assign_chooses_the_start(settings, topic, client):
    settings = settings.model_copy(update={"kafka_client": client})
    group = f"seam-{client}-{uuid.uuid4().hex[:6]}"
    (partition, _), *_ = produce(settings, topic, [b"k0"] * 10)  # one key: all ten on one partition
    tp = TopicPartition(topic, partition)
    first = make_consumer(settings, group)
    assigned = []
    first.subscribe([topic], on_assign=assigned.extend)
    ours = read(first, 10)
    assert [(r.partition, r.offset) for r in ours] == [(partition, n) for n in range(10)]
    first.commit({tp: 5})  # the first five are done
    first.close()
    assert sorted(assigned) == [TopicPartition(topic, p) for p in range(PARTITIONS)]

    again = make_consumer(settings, group)  # a rebalance: the partition comes back from the committed offset
    again.subscribe([topic])
    resumed = [r for r in read(again, 1) if (r.topic, r.partition) == tp]
    again.close()
    assert resumed and resumed[0].offset == 5

    rewound = make_consumer(settings, group)  # on_assign's start offsets win over the commits
    rewound.subscribe([topic], on_assign=lambda parts: {p: BEGINNING for p in parts})
    start = [r for r in read(rewound, 1) if (r.topic, r.partition) == tp]
    rewound.close()
    assert start and start[0].offset == 0
