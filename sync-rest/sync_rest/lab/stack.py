"""Part A's services for the native runtime, in start order (mirrors docker-compose.yml)."""
from labkit.runtime.spec import gunicorn_service, python_service

PART = "sync-rest"
# What `make reset` removes under .run/sync-rest/: the SQLite files (inventory stock, idempotency keys).
DATA = ("data",)


def services(settings):
    return [
        gunicorn_service(settings, "notification-service", "sync_rest.notification_service.app",
                         settings.notification_port),
        gunicorn_service(settings, "inventory-service", "sync_rest.inventory_service.app",
                         settings.inventory_port),
        # One process, many threads: the order service mostly waits on inventory, and one process
        # means one circuit breaker and one idempotency cache view for all requests.
        gunicorn_service(settings, "order-service", "sync_rest.order_service.app",
                         settings.order_port, workers=1, threads=64),
        # The live dashboard: samples the services above (common.dashboard).
        python_service(settings, "dashboard", "sync_rest.dashboard", settings.dashboard_port),
    ]
