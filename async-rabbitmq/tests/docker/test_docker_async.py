"""Part B's docker ring: what only the compose stack shows (run by `make test` with STACK_RUNTIME=docker, after
the scenario ring `tests/test_async.py` ran against the same stack): the shared checks, and RabbitMQ's account
and management UI."""
import pika
import pytest
import requests

from labkit import dockercheck as dc
from labkit.docker_ring import *  # noqa: F401,F403  (the checks every part shares)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def ring():
    return {"inventory": "inventory-service", "crashable": "notification-service", "front": "order-service",
            "built": ["order-service", "inventory-service", "notification-service"]}


def _amqp_login(client_settings, user: str, password: str) -> str:
    params = pika.ConnectionParameters(client_settings.rabbitmq_host, client_settings.rabbitmq_port,
                                       credentials=pika.PlainCredentials(user, password),
                                       connection_attempts=1, socket_timeout=5)
    try:
        pika.BlockingConnection(params).close()
        return "ok"
    except pika.exceptions.ProbableAuthenticationError:
        return "refused"
    except pika.exceptions.AMQPConnectionError as err:
        return f"refused ({type(err).__name__})" if "ACCESS_REFUSED" in repr(err) else f"error {err!r}"


def test_guest_is_refused_from_outside_and_the_compose_account_works(docker_stack, client_settings):
    assert client_settings.rabbitmq_user not in ("", "guest")
    assert _amqp_login(client_settings, "guest", "guest").startswith("refused")
    assert _amqp_login(client_settings, client_settings.rabbitmq_user, client_settings.rabbitmq_password) == "ok"
    api = f"http://127.0.0.1:{client_settings.rabbitmq_mgmt_port}/api/whoami"
    assert requests.get(api, auth=("guest", "guest"), timeout=10).status_code == 401
    assert requests.get(api, auth=(client_settings.rabbitmq_user, client_settings.rabbitmq_password), timeout=10).json()["name"] \
        == client_settings.rabbitmq_user


def test_management_ui_is_on_loopback(docker_stack, client_settings):
    assert dc.published(docker_stack)["rabbitmq"] and all(
        ip == "127.0.0.1" for ip, _ in dc.published(docker_stack)["rabbitmq"])
    assert dc.listeners(client_settings.rabbitmq_mgmt_port) == {"127.0.0.1"}


def test_rabbitmqs_own_prometheus_plugin_answers_on_loopback(docker_stack, client_settings):
    port = client_settings.rabbitmq_prometheus_port
    assert dc.listeners(port) == {"127.0.0.1"}
    r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert r.status_code == 200 and "rabbitmq_identity_info" in r.text
