"""The one settings object: every tunable of every part, read from the environment with the contract's defaults.

Nothing else in the project reads `os.environ` for configuration; services and
scripts call `get_settings()` (or build `Settings(**overrides)` in tests).
Each field is set by the upper-case environment variable of the same name.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", populate_by_name=True)

    # --- where things listen (all parts) ---
    bind_host: str = "127.0.0.1"
    order_port: int = 6000
    inventory_port: int = 6001
    notification_port: int = 6002
    dashboard_port: int = 6003  # the part's live dashboard (common.dashboard)
    prometheus_port: int = 9090  # `make observe`: Debian's Prometheus, on loopback
    # URLs the services and scripts use to reach each other; default to the ports above on bind_host.
    order_url: str = ""
    inventory_url: str = ""
    notification_url: str = ""

    # --- runtime state ---
    run_dir: Path = ROOT / ".run"
    data_dir: Path | None = None  # default: <run_dir>/<part>/data, set by the native launcher
    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|text)$")
    web_workers: int = Field(2, ge=1)
    web_threads: int = Field(16, ge=1)
    max_body_bytes: int = 64 * 1024
    # /admin/* on inventory (stock reset for scenarios): off unless a scenario, test or user turns it on; when
    # off the endpoints do not exist (404).
    admin_api: bool = False
    # What scenario scripts drive: auto (a running compose stack of the part if there is one, else native),
    # native or docker.
    stack_runtime: str = Field("auto", pattern="^(auto|native|docker)$")
    # In-process HTTP of the consumer processes (waitress, common/http_server.py); gunicorn has its own below.
    http_threads: int = Field(8, ge=1)  # requests handled at once; slow clients never hold one
    http_connection_limit: int = Field(500, ge=1)  # open connections at once; more wait in the backlog
    http_channel_timeout_s: float = Field(30.0, gt=0)  # an idle or stalled connection is closed after this
    # gunicorn services (common/gunicorn_worker.py): a request's head and body must arrive within this.
    http_request_timeout_s: float = Field(10.0, gt=0)
    health_timeout_s: float = 60.0
    # The dashboard samples every service's /metrics and /health this often while a page (or client) polls it,
    # and every dashboard_idle_s otherwise, keeping dashboard_history_s of history for its charts.
    dashboard_interval_s: float = Field(1.0, gt=0)
    dashboard_idle_s: float = Field(5.0, gt=0)
    dashboard_history_s: float = Field(300.0, gt=0)
    chaos_seed: int | None = None  # the chaos ring's RNG seed (CHAOS_SEED): replays a run's kill schedule

    # --- Part A: timeouts, faults, resilience ---
    connect_timeout_s: float = 1.0
    inventory_timeout_s: float = 5.0
    notification_timeout_s: float = 2.0
    inventory_delay_ms: int = Field(0, ge=0)
    # The original lab's compose override: the same delay in seconds. Used when INVENTORY_DELAY_MS is unset or 0
    # (compose files pass INVENTORY_DELAY_MS=0 by default); a non-zero INVENTORY_DELAY_MS wins.
    simulated_delay: float | None = Field(None, ge=0)
    force_failure: bool = False
    notification_force_failure: bool = False
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_reset_s: float = Field(10.0, gt=0)

    # --- Part B: RabbitMQ ---
    rabbitmq_host: str = "127.0.0.1"
    rabbitmq_port: int = 5672
    rabbitmq_user: str = "guest"
    rabbitmq_password: str = "guest"
    rabbitmq_mgmt_port: int = 15672
    # RabbitMQ's own rabbitmq_prometheus plugin (loopback): not its usual 15692, which is node 3's management port
    # in a three-node cluster (each node's ports add rabbitmq_node_step); node i listens on this + step * (i - 1).
    rabbitmq_prometheus_port: int = 15679
    rabbitmq_dist_port: int = 25672
    rabbitmq_epmd_port: int = 4369
    rabbitmq_nodename: str = "foodlab@localhost"
    # 4 batches of CONSUMER_BATCH: a consumer keeps handling while earlier batches wait for their confirms
    rabbitmq_prefetch: int = Field(1000, ge=1)
    rabbitmq_heartbeat_s: int = Field(30, ge=0)
    rabbitmq_install: bool = True  # native runtime: apt-get install rabbitmq-server when it is missing
    reconnect_max_s: float = Field(5.0, gt=0)  # cap of the exponential backoff between broker reconnects
    consumer_batch: int = Field(250, ge=1)  # messages handled per SQLite transaction by a consumer
    outbox_max_inflight: int = Field(1000, ge=1)  # unconfirmed publishes the order-service relay allows
    outbox_retry_max_s: float = Field(30.0, gt=0)  # cap of the backoff between retries of an unroutable record
    max_message_bytes: int = Field(64 * 1024, ge=1)  # larger OrderPlaced messages are poison (DLQ)
    # Cluster, Parts B and C: how many broker nodes, read from BROKERS (BROKERS=3 starts three clustered nodes
    # instead of one). One name for both parts' nodes: RabbitMQ nodes in Part B, Kafka brokers in Part C.
    # Part B: node i listens on each port above + (i-1) * rabbitmq_node_step and is named <name><i>@<host>
    # (see async_rabbitmq.messaging.nodes). Part C: N combined broker+controller KRaft nodes; node n listens
    # on the bootstrap port + 2(n-1) and its controller on the next port.
    cluster_size: int = Field(1, ge=1, le=5, validation_alias="brokers")
    rabbitmq_node_step: int = Field(10, ge=1)
    # "" = quorum queues on a cluster, classic on one node; set to compare the two on the same cluster.
    rabbitmq_queue_type: str = Field("", pattern="^(|classic|quorum)$")
    # Part B, compose cluster (docker-compose.cluster.yml): the nodes named outright instead of derived, where each
    # node is its own host. Comma-separated `<nodename>[=<host>[:<amqp port>[:<mgmt port>]]]`; the host defaults
    # to the node name's host part, the ports to the ones above. Sets `cluster_size` to the number of nodes.
    rabbitmq_nodes: str = Field("", pattern=r"^(|[^,=@\s]+@[^,=@:\s]+(=[^,=:\s]+(:\d+){0,2})?"
                                           r"(,[^,=@\s]+@[^,=@:\s]+(=[^,=:\s]+(:\d+){0,2})?)*)$")

    # --- Parts B and C: consumers (common.retry) ---
    # Transient errors (SQLite locked, disk full) are retried with jittered exponential backoff for this long,
    # then the batch is dead-lettered (`retries_exhausted`), to be re-driven with `make redrive`.
    consumer_retry_budget_s: float = Field(30.0, ge=0)
    consumer_retry_initial_s: float = Field(0.2, gt=0)  # first backoff; doubles per attempt, with full jitter
    consumer_retry_max_wait_s: float = Field(5.0, gt=0)  # cap of one backoff

    # --- tests: the consumer fuzz rings (examples per test; each example is a batch of up to 40 messages) ---
    fuzz_examples: int = Field(25, ge=1)

    # --- Part C: Kafka ---
    kafka_bootstrap: str = "127.0.0.1:29092"
    # Which Kafka client every Part C process uses (streaming_kafka.kafka_io): kafka-python-ng or confluent-kafka.
    kafka_client: str = Field("kafka-python-ng", pattern="^(kafka-python-ng|kafka-python|confluent)$")
    kafka_controller_port: int = 29093
    kafka_heap: str = "512m"
    kafka_partitions: int = Field(6, ge=1)
    service_name: str = "lab"  # set by the runtime for each process (SERVICE_NAME); names Kafka clients
    kafka_version: str = "3.9.1"  # broker jars fetched from Maven Central; the compose image uses the same version
    # Producer compression; unset: the client's fastest here of what both clients can read (measured): gzip for
    # kafka-python-ng (fewer bytes per batch, twice its send rate), none for confluent-kafka (gzip costs librdkafka
    # more CPU than the bytes it saves). lz4, snappy, zstd: kafka-python-ng reads them only with extra packages
    # (not installed), so a log written with one is unreadable when the client is switched.
    kafka_compression: str = Field("", pattern="^(|none|gzip|lz4|snappy|zstd)$")
    kafka_linger_ms: int = Field(20, ge=0)  # bulk producer: wait this long to fill a batch
    kafka_batch_bytes: int = Field(1024 * 1024, ge=1024)
    kafka_poll_records: int = Field(500, ge=1)  # inventory consumer: records per poll, one SQLite transaction each
    bulk_chunk: int = Field(10_000, ge=1)  # /bulk generates and confirms events chunk by chunk
    bulk_max: int = Field(1_000_000, ge=1)  # /bulk: a larger count is refused with 400 validation_error
    metrics_dir: Path = ROOT / "streaming-kafka" / "metrics"  # analytics writes metrics_output.json here
    metrics_interval_s: float = Field(5.0, gt=0)  # how often analytics rewrites the file (and on shutdown)
    # Units of every item Part C's inventory starts with: enough for the original's load test (10,000 orders of
    # 1-3 units) to fail only where fail_rate says so. Parts A and B keep the contract's 100/200.
    kafka_initial_stock: int = Field(1_000_000, ge=0)
    kafka_publish_timeout_s: float = Field(10.0, gt=0)  # POST /order waits this long for Kafka's acknowledgement
    kafka_bench_events: int = Field(100_000, ge=1_000)  # events per `/bulk` run of Part C's benchmark (`make bench`)

    @field_validator("simulated_delay", mode="before")
    @classmethod
    def _blank_is_unset(cls, v):
        return None if isinstance(v, str) and not v.strip() else v

    @model_validator(mode="after")
    def _derived(self) -> "Settings":
        if self.simulated_delay is not None and not self.inventory_delay_ms:
            self.inventory_delay_ms = round(self.simulated_delay * 1000)
        host = "127.0.0.1" if self.bind_host in ("0.0.0.0", "::") else self.bind_host
        if not self.order_url:
            self.order_url = f"http://{host}:{self.order_port}"
        if not self.inventory_url:
            self.inventory_url = f"http://{host}:{self.inventory_port}"
        if not self.notification_url:
            self.notification_url = f"http://{host}:{self.notification_port}"
        if self.rabbitmq_nodes:
            self.cluster_size = self.rabbitmq_nodes.count(",") + 1
        if not self.kafka_compression:
            self.kafka_compression = "none" if self.kafka_client == "confluent" else "gzip"
        if self.cluster_size > 1 and len(self.kafka_servers) == 1:  # a cluster: clients know every broker
            self.kafka_bootstrap = ",".join(f"{h}:{p}" for h, p in self.kafka_nodes())
        return self

    @property
    def kafka_servers(self) -> list[str]:
        """The Kafka bootstrap list, one `host:port` per broker (KAFKA_BOOTSTRAP, or derived above for a cluster)."""
        return self.kafka_bootstrap.split(",")

    def with_cluster_size(self, n: int) -> Settings:
        """A copy for an n-node native cluster: `cluster_size` = n and the Kafka bootstrap list derived again."""
        first = self.model_copy(update={"cluster_size": n, "kafka_bootstrap": self.kafka_servers[0]})
        return first.model_copy(update={"kafka_bootstrap": ",".join(f"{h}:{p}" for h, p in first.kafka_nodes())})

    def kafka_nodes(self) -> list[tuple[str, int]]:
        """(host, port) of each native broker: node n (1-based) is at the first bootstrap port + 2(n-1)."""
        host, _, port = self.kafka_servers[0].rpartition(":")
        return [(host or "127.0.0.1", int(port) + 2 * i) for i in range(self.cluster_size)]

    def part_dir(self, part: str) -> Path:
        return self.run_dir / part

    def data_path(self, name: str, part: str | None = None) -> Path:
        base = self.data_dir or self.part_dir(part or "shared") / "data"
        base.mkdir(parents=True, exist_ok=True)
        return base / name


def env_names() -> dict[str, str]:
    """Each setting's environment variable: its upper-case name, or its alias's (`cluster_size` is BROKERS)."""
    return {name: (f.validation_alias if isinstance(f.validation_alias, str) else name).upper()
            for name, f in Settings.model_fields.items()}


def check_environment(env: dict[str, str]) -> None:
    """Raise ValueError naming each bad variable if `env` would not give valid settings."""
    given: dict[str, Any] = {var.lower(): env[var] for var in env_names().values() if var in env}
    try:
        Settings(**given)
    except ValidationError as err:
        problems = [f"{'.'.join(map(str, e['loc'])).upper()}={given.get(str(e['loc'][0]), '')!r}: {e['msg']}"
                    for e in err.errors()]
        raise ValueError("invalid settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
