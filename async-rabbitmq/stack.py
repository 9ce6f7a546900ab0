"""Part B's services for the native runtime, in start order (mirrors docker-compose.yml)."""
import importlib.util
from pathlib import Path

from common.runtime.spec import Service, python_service

PART = "async-rabbitmq"


def _native_broker():
    # The runtime loads this file by path and may load other parts' stack.py in the same process: load the
    # broker runner by path too, instead of putting this part's folder (its module names) on sys.path.
    spec = importlib.util.spec_from_file_location("_async_rabbitmq_native_broker",
                                                  Path(__file__).resolve().parent / "broker" / "native.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.NativeBroker


def services(settings):
    broker = _native_broker()(settings, PART)
    rabbitmq = Service(
        name="rabbitmq", argv=broker.argv(), port=settings.rabbitmq_port, env=broker.env(),
        ready=broker.ready, prepare=broker.prepare, cleanup=broker.cleanup,
        extra_ports=(settings.rabbitmq_mgmt_port, settings.rabbitmq_dist_port),
        stop_wait_s=60, startup_timeout_s=120,
    )
    return [
        rabbitmq,
        # Consumers: one process each, an AMQP consumer plus a small HTTP thread for /health (and /stock).
        python_service(settings, PART, "inventory-service", "inventory_service", settings.inventory_port),
        python_service(settings, PART, "notification-service", "notification_service", settings.notification_port),
        # gunicorn, one worker: HTTP threads, the outbox relay thread and the order_status consumer thread.
        python_service(settings, PART, "order-service", "order_service", settings.order_port),
    ]
