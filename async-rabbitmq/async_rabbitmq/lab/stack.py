"""Part B's services for the native runtime, in start order (mirrors docker-compose.yml).

BROKERS=1 (the default): one RabbitMQ node, service `rabbitmq`. BROKERS=3: three clustered nodes, services
`rabbitmq` (node 1, the one the others join), `rabbitmq-2` and `rabbitmq-3`, each stopped, started or killed
on its own.
"""
from async_rabbitmq.lab.broker.native import NativeBroker, prometheus_port
from async_rabbitmq.messaging.nodes import nodes
from labkit.runtime.spec import Service, python_service

PART = "async-rabbitmq"
MAX_BROKERS = 5  # the `brokers` setting's upper bound
# What `make reset` removes under .run/async-rabbitmq/: the SQLite files (orders and outbox, stock,
# notifications) and each node's message store and definitions (single node `rabbitmq/`, cluster `rabbitmq-<i>/`);
# the next start recreates them empty. The nodes' configuration, cookie and logs stay.
DATA = ("data", "rabbitmq/mnesia", *(f"rabbitmq-{i}/mnesia" for i in range(1, MAX_BROKERS + 1)))


def cluster_size(settings) -> int:
    """BROKERS when it is given; otherwise the size of the running stack, so that `make down` (and stop/start
    of a node) stops every node of a running cluster."""
    if "cluster_size" in settings.model_fields_set:
        return settings.cluster_size
    from labkit.runtime.control import Part  # at call time: the runtime imports this module

    return Part(PART, settings).cluster_size(lambda n: f"rabbitmq-{n}", MAX_BROKERS) or settings.cluster_size


def services(settings):
    size = cluster_size(settings)
    if size != settings.cluster_size:
        settings = settings.model_copy(update={"cluster_size": size})
    brokers = []
    for node in nodes(settings):
        broker = NativeBroker(settings, PART, node)
        brokers.append(Service(
            name=node.service, argv=broker.argv(), port=node.amqp_port, env=broker.env(),
            ready=broker.ready, prepare=broker.prepare, cleanup=broker.cleanup,
            extra_ports=(node.mgmt_port, node.dist_port, prometheus_port(settings, node)), stop_wait_s=60, startup_timeout_s=120,
            # started together: a node waits at boot for the one that stopped last, whichever it is
            start_group="rabbitmq",
        ))
    return [
        *brokers,
        # Consumers: one process each, an AMQP consumer plus a small HTTP thread for /health (and /stock).
        python_service(settings, "inventory-service", "async_rabbitmq.inventory_service", settings.inventory_port),
        python_service(settings, "notification-service", "async_rabbitmq.notification_service", settings.notification_port),
        # gunicorn, one worker: HTTP threads, the outbox relay thread and the order_status consumer thread
        # (its Prometheus samples in multiprocess files, as every gunicorn service's).
        python_service(settings, "order-service", "async_rabbitmq.order_service", settings.order_port,
                       multiprocess_metrics=True),
        # The live dashboard: samples the services above (common.dashboard).
        python_service(settings, "dashboard", "async_rabbitmq.dashboard", settings.dashboard_port),
    ]


def backlog(settings):
    """What `make watch` prints every second: each queue's messages waiting to be delivered, exact, from a passive
    declare per queue (the management API's figures trail the queues by seconds)."""
    import pika.exceptions

    from async_rabbitmq.messaging.amqp import blocking_connection
    from async_rabbitmq.messaging.topology import QUEUES

    def sample() -> dict[str, int | str]:
        """messages waiting (ready) in each queue"""
        conn = blocking_connection(settings)
        try:
            depths: dict[str, int | str] = {}
            channel = conn.channel()
            for queue in QUEUES:
                try:
                    depths[queue.name] = channel.queue_declare(queue.name, passive=True).method.message_count
                except pika.exceptions.ChannelClosedByBroker:  # 404: not declared yet (the broker closes the channel)
                    depths[queue.name] = "-"
                    channel = conn.channel()
            return depths
        finally:
            conn.close()

    return sample
