"""Part C's services for the native runtime, in start order (mirrors docker-compose.yml)."""
from labkit.runtime.spec import gunicorn_service, python_service
from streaming_kafka.lab.broker.native import kafka_services, service_name

PART = "streaming-kafka"
MAX_BROKERS = 5  # the `brokers` setting's upper bound
# What `make reset` removes under .run/streaming-kafka/: the SQLite files (stock, idempotency keys), the single
# broker's log and offsets, the cluster's nodes, and the failover run's analytics output; the next start formats
# an empty broker. The committed streaming-kafka/metrics/ is evidence, not state: it stays.
DATA = ("data", "kafka/data", "cluster", "cluster-metrics")


def cluster_size(settings) -> int:
    """BROKERS when it is given; otherwise the size of the running stack, so that `make stop SERVICE=kafka-2`
    and `make down` need no BROKERS=3 once a cluster is up."""
    if "cluster_size" in settings.model_fields_set:
        return settings.cluster_size
    from labkit.runtime.control import Part  # at call time: the runtime imports this module

    return Part(PART, settings).cluster_size(service_name, MAX_BROKERS) or settings.cluster_size


def with_brokers(settings, n: int):
    if n == settings.cluster_size:
        return settings
    return settings.with_cluster_size(n)


def services(settings):
    settings = with_brokers(settings, cluster_size(settings))
    brokers = {"BROKERS": str(settings.cluster_size)}  # every process knows every broker, whoever started it
    return [
        *kafka_services(settings),
        python_service(settings, "inventory-consumer", "streaming_kafka.inventory_consumer", settings.inventory_port,
                       stop_wait_s=30, env=brokers),
        # The scale-out scenario's second instance (compose profile `scaleout`): same program, same SQLite stock
        # (the part's data dir), its own HTTP port; started only by name.
        python_service(settings, "inventory-consumer-2", "streaming_kafka.inventory_consumer", settings.inventory_port + 10,
                       env={"INVENTORY_PORT": str(settings.inventory_port + 10), **brokers}, stop_wait_s=30,
                       profile="scaleout"),
        python_service(settings, "analytics-consumer", "streaming_kafka.analytics_consumer", settings.notification_port,
                       stop_wait_s=30, startup_timeout_s=120, env=brokers),
        # One process: one bulk producer batches every request's events together.
        gunicorn_service(settings, "producer-order", "streaming_kafka.producer_order.app",
                         settings.order_port, workers=1, threads=16, env=brokers),
        # The live dashboard: samples the services above (common.dashboard).
        python_service(settings, "dashboard", "streaming_kafka.dashboard", settings.dashboard_port),
    ]


def backlog(settings):
    """What `make watch` prints every second: each consumer group's lag, summed over its partitions (the same
    figures as `streaming_kafka.lag.format_table`, per partition)."""
    from streaming_kafka.lag import consumer_lag, total_lag
    from streaming_kafka.topology import ANALYTICS_GROUP, INVENTORY_GROUP

    def sample() -> dict[str, int]:
        """records of lag of each consumer group"""
        return {group: total_lag(consumer_lag(settings, group)) for group in (INVENTORY_GROUP, ANALYTICS_GROUP)}

    return sample
