"""Part C's services for the native runtime, in start order (mirrors docker-compose.yml)."""
import sys
from pathlib import Path

PART_DIR = Path(__file__).resolve().parent
if str(PART_DIR) not in sys.path:  # `make up` imports this file from the repository root
    sys.path.insert(0, str(PART_DIR))

from broker.native import kafka_service
from scaleout import stop_extra_instances

from common.runtime.spec import gunicorn_service, python_service

PART = "streaming-kafka"


def services(settings):
    return [
        kafka_service(settings),
        # Extra inventory instances started by the scale-out scenario stop with this service.
        python_service(settings, PART, "inventory-consumer", "inventory_consumer", settings.inventory_port,
                       cleanup=lambda: stop_extra_instances(settings), stop_wait_s=30),
        python_service(settings, PART, "analytics-consumer", "analytics_consumer", settings.notification_port,
                       stop_wait_s=30, startup_timeout_s=120),
        # One process: one bulk producer batches every request's events together.
        gunicorn_service(settings, PART, "producer-order", "producer_order.app:create_app()",
                         settings.order_port, workers=1, threads=16),
    ]
