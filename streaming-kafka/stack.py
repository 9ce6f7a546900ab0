"""Part C's services for the native runtime, in start order (mirrors docker-compose.yml)."""
import sys
from pathlib import Path

PART_DIR = Path(__file__).resolve().parent
if str(PART_DIR) not in sys.path:  # `make up` imports this file from the repository root
    sys.path.insert(0, str(PART_DIR))

from broker.native import kafka_service

from common.runtime.spec import gunicorn_service, python_service

PART = "streaming-kafka"


def services(settings):
    return [
        kafka_service(settings),
        python_service(settings, PART, "inventory-consumer", "inventory_consumer", settings.inventory_port,
                       stop_wait_s=30),
        # The scale-out scenario's second instance (compose profile `scaleout`): same program, same SQLite stock
        # (the part's data dir), its own HTTP port; started only by name.
        python_service(settings, PART, "inventory-consumer-2", "inventory_consumer", settings.inventory_port + 10,
                       env={"INVENTORY_PORT": str(settings.inventory_port + 10)}, stop_wait_s=30,
                       profile="scaleout"),
        python_service(settings, PART, "analytics-consumer", "analytics_consumer", settings.notification_port,
                       stop_wait_s=30, startup_timeout_s=120),
        # One process: one bulk producer batches every request's events together.
        gunicorn_service(settings, PART, "producer-order", "producer_order.app:create_app()",
                         settings.order_port, workers=1, threads=16),
    ]
