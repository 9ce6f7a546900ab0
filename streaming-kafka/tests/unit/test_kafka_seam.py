"""The Kafka client seam (streaming_kafka.kafka_io): the only place that imports a Kafka client library, the
setting that chooses between the two, and the partitioner both must share so one key finds one partition."""
import random
import re
from pathlib import Path

import pytest

from common.settings import ROOT, Settings
from streaming_kafka import kafka_io

pytestmark = pytest.mark.unit
SEAM = Path(kafka_io.__file__).parent
CLIENT_IMPORT = re.compile(r"^\s*(from|import)\s+(kafka|confluent_kafka)\b", re.MULTILINE)
SKIP_DIRS = {"__pycache__", "node_modules"}


def python_files(root: Path):
    for path in root.iterdir():
        if path.name.startswith(".") or path.name in SKIP_DIRS:  # .venv, .run, .cache, .git: not the project's code
            continue
        if path.is_dir():
            yield from python_files(path)
        elif path.suffix == ".py":
            yield path


def client_imports_outside(root: Path, seam: Path) -> list[str]:
    return [f"{p.relative_to(root)}:{text[:m.start()].count(chr(10)) + 1}"
            for p in python_files(root) if seam not in p.parents
            for text in [p.read_text(errors="replace")] for m in CLIENT_IMPORT.finditer(text)]


def test_no_module_outside_the_seam_imports_a_kafka_client_library():
    assert client_imports_outside(ROOT, SEAM) == []
    assert client_imports_outside(SEAM, SEAM / "nowhere"), "the scan must see the seam's own imports"


def test_the_guard_names_an_import_added_outside_the_seam(tmp_path):
    (tmp_path / "seam").mkdir()
    (tmp_path / "seam" / "client.py").write_text("from kafka import KafkaProducer\n")
    (tmp_path / "service.py").write_text('"""doc"""\nimport json\n    import confluent_kafka\n')
    (tmp_path / "fine.py").write_text("from streaming_kafka.kafka_io import make_producer  # kafka\nimport kafkaesque\n")
    assert client_imports_outside(tmp_path, tmp_path / "seam") == ["service.py:3"]


@pytest.mark.parametrize(("value", "module"), [("kafka-python-ng", "kafka_python"), ("kafka-python", "kafka_python"),
                                               ("confluent", "confluent")])
def test_kafka_client_setting_chooses_the_implementation(value, module):
    assert kafka_io.implementation(Settings(kafka_client=value)).__name__ == f"streaming_kafka.kafka_io.{module}"


def test_an_unknown_kafka_client_is_refused():
    with pytest.raises(ValueError, match="kafka_client"):
        Settings(kafka_client="aiokafka")


def test_each_client_gets_its_own_default_compression_that_both_can_read():
    assert Settings().kafka_compression == "gzip"
    assert Settings(kafka_client="confluent").kafka_compression == "none"
    assert kafka_io.producer_config(Settings(kafka_client="confluent"))["compression.type"] == "none"
    assert Settings(kafka_client="confluent", kafka_compression="gzip").kafka_compression == "gzip"


def test_confluent_producer_keeps_the_guarantees_in_its_configuration():
    cfg = kafka_io.producer_config(Settings(kafka_client="confluent"), bulk=True)
    assert cfg["partitioner"] == "murmur2_random"  # librdkafka's default (CRC32) would move keys
    assert cfg["enable.idempotence"] is True and cfg["acks"] == "all"


def test_both_clients_put_a_key_on_the_same_partition():
    """kafka-python-ng's murmur2 against librdkafka's own `murmur2_random` (called in the library itself)."""
    from streaming_kafka.kafka_io import confluent, kafka_python
    rng = random.Random(18)
    keys = [f"ORD-{rng.getrandbits(41)}-{rng.getrandbits(32):08x}".encode() for _ in range(2000)]
    keys += [rng.randbytes(rng.randint(1, 40)) for _ in range(500)]
    for n in (1, 3, 6, 7, 12):
        python = [kafka_python.partition(k, n) for k in keys]
        assert python == [confluent.partition(k, n) for k in keys]
        assert n == 1 or len(set(python)) == n  # the keys spread: the comparison is not of constants


class Committing:
    """A librdkafka consumer whose commits fail with the given error codes first (a broker restarting)."""

    def __init__(self, errors):
        from streaming_kafka.kafka_io import confluent
        self.raised = [confluent.KafkaException(confluent._Err(code)) for code in errors]
        self.calls = 0

    def commit(self, offsets, asynchronous):
        self.calls += 1
        assert asynchronous is False
        if self.raised:
            raise self.raised.pop(0)
        return offsets


def confluent_consumer(errors):
    from streaming_kafka.kafka_io import confluent
    consumer = confluent.Consumer.__new__(confluent.Consumer)  # no librdkafka client: only commit() is used
    consumer._c = Committing(errors)
    return consumer, confluent._Err


def test_a_confluent_commit_waits_out_an_absent_coordinator_as_kafka_python_ng_does():
    """The chaos ring under KAFKA_CLIENT=confluent: kill -9 of the broker made a commit fail at once with
    `_WAIT_COORD`, which crashed the analytics worker (kafka-python-ng's commit waits for the coordinator)."""
    err = confluent_consumer([])[1]
    consumer, _ = confluent_consumer([err._WAIT_COORD, err.COORDINATOR_NOT_AVAILABLE])
    consumer.commit({kafka_io.TopicPartition("OrderEvents", 0): 5})
    assert consumer._c.calls == 3


def test_a_confluent_commit_after_a_rebalance_is_commit_failed():
    err = confluent_consumer([])[1]
    consumer, _ = confluent_consumer([err.ILLEGAL_GENERATION])
    with pytest.raises(kafka_io.CommitFailedError):
        consumer.commit({kafka_io.TopicPartition("OrderEvents", 0): 5})
