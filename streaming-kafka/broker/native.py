"""The `kafka` service of the native runtime: Apache Kafka jars from Maven Central, KRaft storage, one JVM.

`prepare` fetches the jars once (Maven, into `.cache/kafka-<version>/libs`), writes the broker's
configuration and formats the KRaft storage the first time; the data under `.run/streaming-kafka/kafka`
survives restarts. The broker is a combined broker + controller listening on loopback only.
"""
from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

from kafka.errors import KafkaError

from common.runtime.spec import Service
from common.settings import ROOT, Settings

from topology import ensure_topics

POM = Path(__file__).resolve().parent / "pom.xml"
MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"

SERVER_PROPERTIES = """\
# Written by streaming-kafka/broker/native.py on every start: edit that file, not this one.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
num.partitions={partitions}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# One broker: a new consumer joins at once instead of waiting 3 s for others.
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

    def __init__(self, settings: Settings):
        self.settings = settings
        self.libs = ROOT / ".cache" / f"kafka-{settings.kafka_version}" / "libs"
        self.home = settings.part_dir("streaming-kafka") / "kafka"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"
        self.log4j = self.home / "log4j.properties"
        host, _, port = settings.kafka_bootstrap.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port)

    def java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        return [shutil.which("java") or "java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC",
                "-Djava.awt.headless=true", f"-Dlog4j.configuration=file:{self.log4j}",
                "-cp", f"{self.libs}/*", main, *args]

    def argv(self) -> list[str]:
        return self.java(MAIN, str(self.config), heap=self.settings.kafka_heap)

    # -- prepare: jars, configuration, storage ------------------------------
    def fetch_jars(self) -> None:
        """Resolve the broker with Maven once; a partial download never looks complete (atomic rename)."""
        if (self.libs / ".complete").exists():
            return
        if not shutil.which("mvn") or not shutil.which("java"):
            raise SystemExit("the native Kafka broker needs Java 17+ and Maven (apt-get install openjdk-17-jre maven)")
        tmp = self.libs.with_name("libs.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"fetching Apache Kafka {self.settings.kafka_version} jars from Maven Central (once) ...", flush=True)
        out = subprocess.run(["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
                              f"-Dkafka.version={self.settings.kafka_version}", f"-DoutputDirectory={tmp}",
                              "-DincludeScope=runtime"], capture_output=True, text=True)
        if out.returncode != 0:  # Maven's own words say why (no network, unknown version, ...)
            raise SystemExit(f"fetching the Kafka jars with Maven failed:\n{out.stdout[-3000:]}{out.stderr[-2000:]}")
        (tmp / ".complete").write_text(self.settings.kafka_version + "\n")
        shutil.rmtree(self.libs, ignore_errors=True)
        tmp.rename(self.libs)

    def write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.config.write_text(SERVER_PROPERTIES.format(
            host=self.host, port=self.port, controller_port=self.settings.kafka_controller_port,
            data=self.data, partitions=self.settings.kafka_partitions))
        self.log4j.write_text(LOG4J)

    def format_storage(self) -> None:
        """Format KRaft storage once: `meta.properties` marks a formatted log dir."""
        if (self.data / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        subprocess.run(self.java(STORAGE_TOOL, "format", "-t", cluster_id, "-c", str(self.config)),
                       check=True, stdout=subprocess.DEVNULL)

    def prepare(self) -> None:
        self.fetch_jars()
        self.write_config()
        self.format_storage()

    # -- readiness ------------------------------------------------------------
    def ready(self) -> bool:
        """Listening, answering metadata requests, and the topics exist."""
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((self.host, self.port)) != 0:
                return False
        try:
            ensure_topics(self.settings)
        except KafkaError:
            return False
        return True


def kafka_service(settings: Settings) -> Service:
    broker = Broker(settings)
    return Service(name="kafka", argv=broker.argv(), port=broker.port, ready=broker.ready, prepare=broker.prepare,
                   extra_ports=(settings.kafka_controller_port,), stop_wait_s=60, startup_timeout_s=120)


def wipe(settings: Settings) -> None:
    """Forget every event, offset and reservation of the part (only while it is down): a fresh start."""
    broker = Broker(settings)
    shutil.rmtree(broker.data, ignore_errors=True)
    shutil.rmtree(settings.part_dir("streaming-kafka") / "data", ignore_errors=True)
