"""Part B's services for the native runtime, in start order (mirrors docker-compose.yml).

BROKERS=1 (the default): one RabbitMQ node, service `rabbitmq`. BROKERS=3: three clustered nodes, services
`rabbitmq` (node 1, the one the others join), `rabbitmq-2` and `rabbitmq-3`, each stopped, started or killed
on its own.
"""
import importlib.util
from pathlib import Path

from common.runtime.spec import Service, python_service

PART = "async-rabbitmq"
MAX_BROKERS = 5  # the `brokers` setting's upper bound


def _native_broker():
    # The runtime loads this file by path and may load other parts' stack.py in the same process: load the
    # broker runner by path too, instead of putting this part's folder (its module names) on sys.path.
    spec = importlib.util.spec_from_file_location("_async_rabbitmq_native_broker",
                                                  Path(__file__).resolve().parent / "broker" / "native.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.NativeBroker, module.nodes


def cluster_size(settings) -> int:
    """BROKERS when it is given; otherwise the size of the running stack, so that `make down` (and stop/start
    of a node) stops every node of a running cluster, node 1 last: the node that stops last must start first,
    and the runtime starts node 1 first."""
    if "brokers" in settings.model_fields_set:
        return settings.brokers
    from common.runtime.control import Part  # at call time: the runtime loads this file

    return Part(PART, settings).cluster_size(lambda n: f"rabbitmq-{n}", MAX_BROKERS) or settings.brokers


def services(settings):
    broker_cls, nodes = _native_broker()
    size = cluster_size(settings)
    if size != settings.brokers:
        settings = settings.model_copy(update={"brokers": size})
    brokers = []
    for node in nodes(settings):
        broker = broker_cls(settings, PART, node)
        brokers.append(Service(
            name=node.service, argv=broker.argv(), port=node.amqp_port, env=broker.env(),
            ready=broker.ready, prepare=broker.prepare, cleanup=broker.cleanup,
            extra_ports=(node.mgmt_port, node.dist_port), stop_wait_s=60, startup_timeout_s=120,
        ))
    return [
        *brokers,
        # Consumers: one process each, an AMQP consumer plus a small HTTP thread for /health (and /stock).
        python_service(settings, PART, "inventory-service", "inventory_service", settings.inventory_port),
        python_service(settings, PART, "notification-service", "notification_service", settings.notification_port),
        # gunicorn, one worker: HTTP threads, the outbox relay thread and the order_status consumer thread.
        python_service(settings, PART, "order-service", "order_service", settings.order_port),
    ]
