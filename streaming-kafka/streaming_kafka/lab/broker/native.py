"""The `kafka` service(s) of the native runtime: Apache Kafka jars from Maven Central, KRaft storage, a JVM each.

`prepare` fetches the jars once (Maven, into `.cache/kafka-<version>/libs`), writes the broker's
configuration and formats the KRaft storage the first time; the data under `.run/streaming-kafka/kafka`
survives restarts. Each broker is a combined broker + controller listening on loopback only.
With BROKERS=3 there are three such nodes (services `kafka`, `kafka-2`, `kafka-3`; node ids 1..3), data
under `.run/streaming-kafka/cluster/kafka-<n>`, all formatted with one cluster id, all three controller
quorum voters.
"""
from __future__ import annotations

import base64
import fcntl
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

from common.errors import StackError
from common.settings import ROOT, Settings
from labkit.runtime.safefs import remove_under
from labkit.runtime.spec import Service
from streaming_kafka.kafka_io import KafkaError
from streaming_kafka.topology import admin_client, ensure_topics, replication

POM = Path(__file__).resolve().parent / "pom.xml"
MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"

SERVER_PROPERTIES = """\
# Written by streaming_kafka/lab/broker/native.py on every start: edit that file, not this one.
process.roles=broker,controller
node.id={node}
controller.quorum.voters={voters}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
num.partitions={partitions}
auto.create.topics.enable=false
# 1 and 1 on one broker; 3 and 2 on a cluster: committed offsets are replicated like the events.
default.replication.factor={factor}
min.insync.replicas={min_isr}
offsets.topic.replication.factor={factor}
offsets.topic.num.partitions=6
transaction.state.log.replication.factor={factor}
transaction.state.log.min.isr={min_isr}
# A replica never becomes leader unless it is in sync (the default, stated): no silent loss on failover.
unclean.leader.election.enable=false
# A new consumer joins at once instead of waiting 3 s for others.
group.initial.rebalance.delay.ms=0
log.retention.hours=168
"""

LOG4J = """\
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.coordinator.group=INFO
log4j.logger.org.apache.kafka.coordinator.group=INFO
"""


class Broker:
    """Paths and steps of the native broker for one settings object."""

    def __init__(self, settings: Settings, node: int = 1):
        self.settings, self.node = settings, node
        self.libs = ROOT / ".cache" / f"kafka-{settings.kafka_version}" / "libs"
        part = settings.part_dir("streaming-kafka")
        # The cluster's nodes keep their own data: a single broker's log never meets a three-voter quorum.
        self.home = part / "cluster" / f"kafka-{node}" if settings.cluster_size > 1 else part / "kafka"
        self.cluster_id_file = part / "cluster" / "cluster.id"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"
        self.log4j = self.home / "log4j.properties"
        self.host, self.port = settings.kafka_nodes()[node - 1]
        self.controller_port = controller_port(settings, node)

    def java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        return [shutil.which("java") or "java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC",
                "-Djava.awt.headless=true", f"-Dlog4j.configuration=file:{self.log4j}",
                "-cp", f"{self.libs}/*", main, *args]

    def argv(self) -> list[str]:
        # Three JVMs share this machine with everything else: 384m each unless KAFKA_HEAP says otherwise.
        cluster_default = self.settings.cluster_size > 1 and "kafka_heap" not in self.settings.model_fields_set
        return self.java(MAIN, str(self.config), heap="384m" if cluster_default else self.settings.kafka_heap)

    # -- prepare: jars, configuration, storage ------------------------------
    def fetch_jars(self) -> None:
        """Resolve the broker with Maven once; a partial download never looks complete (atomic rename). One fetch at
        a time: `make test` starts a stack while `docker/images.sh` fetches the same jars for the Kafka image."""
        if (self.libs / ".complete").exists():
            return
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        with open(self.libs.parent / "fetch.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (self.libs / ".complete").exists():  # the other fetch may have finished meanwhile
                self._fetch_jars()

    def _fetch_jars(self) -> None:
        if not shutil.which("mvn") or not shutil.which("java"):
            raise StackError("the native Kafka broker needs Java 17+ and Maven (apt-get install openjdk-17-jre maven)")
        tmp = self.libs.with_name("libs.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"fetching Apache Kafka {self.settings.kafka_version} jars from Maven Central (once) ...", flush=True)
        out = subprocess.run(["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
                              f"-Dkafka.version={self.settings.kafka_version}", f"-DoutputDirectory={tmp}",
                              "-DincludeScope=runtime"], capture_output=True, text=True)
        if out.returncode != 0:  # Maven's own words say why (no network, unknown version, ...)
            raise StackError(f"fetching the Kafka jars with Maven failed:\n{out.stdout[-3000:]}{out.stderr[-2000:]}")
        (tmp / ".complete").write_text(self.settings.kafka_version + "\n")
        shutil.rmtree(self.libs, ignore_errors=True)
        tmp.rename(self.libs)

    def write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        voters = ",".join(f"{n}@127.0.0.1:{controller_port(self.settings, n)}"
                          for n in range(1, self.settings.cluster_size + 1))
        factor, min_isr = replication(self.settings)
        self.config.write_text(SERVER_PROPERTIES.format(
            node=self.node, voters=voters, host=self.host, port=self.port, controller_port=self.controller_port,
            data=self.data, partitions=self.settings.kafka_partitions, factor=factor, min_isr=min_isr))
        self.log4j.write_text(LOG4J)

    def format_storage(self) -> None:
        """Format KRaft storage once: `meta.properties` marks a formatted log dir."""
        if (self.data / "meta.properties").exists():
            return
        cluster_id = "-"
        while cluster_id.startswith("-"):  # kafka-storage would read it as an option (Kafka's own ids skip these)
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if self.settings.cluster_size > 1:  # every node of the cluster is formatted with the same id
            if not self.cluster_id_file.exists():
                self.cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
                self.cluster_id_file.write_text(cluster_id)
            cluster_id = self.cluster_id_file.read_text().strip()
        subprocess.run(self.java(STORAGE_TOOL, "format", "-t", cluster_id, "-c", str(self.config)),
                       check=True, stdout=subprocess.DEVNULL)

    def prepare(self) -> None:
        self.fetch_jars()
        self.write_config()
        self.format_storage()

    # -- readiness ------------------------------------------------------------
    def ready(self) -> bool:
        """One broker: listening, answering metadata requests, and the topics exist. A cluster node: its
        controller listens; once a majority of the voters listens (a quorum can form), it is also registered
        with the cluster; once every node listens, the topics exist too. Nodes start one after another, so
        the first ones cannot wait for a quorum that the later ones complete."""
        if self.settings.cluster_size == 1:
            return listening(self.host, self.port) and self._topics()
        if not listening("127.0.0.1", self.controller_port):
            return False
        live = sum(listening("127.0.0.1", controller_port(self.settings, n))
                   for n in range(1, self.settings.cluster_size + 1))
        if live <= self.settings.cluster_size // 2:
            return True
        return self.node in registered_brokers(self.settings) and (live < self.settings.cluster_size or self._topics())

    def _topics(self) -> bool:
        try:
            ensure_topics(self.settings)
        except KafkaError:
            return False
        return True


def controller_port(settings: Settings, node: int) -> int:
    return settings.kafka_controller_port + 2 * (node - 1)


def service_name(node: int) -> str:
    """Node 1 is `kafka` in both modes (the contract's name); the others are `kafka-2`, `kafka-3`, ..."""
    return "kafka" if node == 1 else f"kafka-{node}"


def listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def registered_brokers(settings: Settings) -> set[int]:
    """Node ids of the brokers the cluster's metadata lists (registered and not fenced); empty if unreachable."""
    try:
        admin = admin_client(settings, request_timeout_ms=5_000)
    except KafkaError:
        return set()
    try:
        return admin.broker_ids()
    except KafkaError:
        return set()
    finally:
        admin.close()


def kafka_services(settings: Settings) -> list[Service]:
    """One service per broker node, in node order."""
    out = []
    for node in range(1, settings.cluster_size + 1):
        broker = Broker(settings, node)
        out.append(Service(name=service_name(node), argv=broker.argv(), port=broker.port, ready=broker.ready,
                           prepare=broker.prepare, extra_ports=(broker.controller_port,), stop_wait_s=60,
                           startup_timeout_s=120, env={"BROKERS": str(settings.cluster_size)}, stop_group="kafka"))
    return out


def wipe(settings: Settings) -> None:
    """Forget every event, offset and reservation of the part (only while it is down): a fresh start, what
    `make reset` removes (the part's declared `stack.DATA`)."""
    from streaming_kafka.lab.stack import DATA  # at call time: the stack module imports this one

    remove_under(settings.part_dir("streaming-kafka"), DATA)
