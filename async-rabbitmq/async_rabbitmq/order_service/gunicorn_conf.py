"""gunicorn settings of order-service: the shared ones, plus stopping the relay and status threads on exit."""
from common.gunicorn_conf import *  # noqa: F403


def worker_exit(server, worker):
    from async_rabbitmq.order_service.app import stop_clients

    stop_clients()
