"""The native RabbitMQ runner's configuration: loopback only, its own node name, ports from settings."""
import pytest

from async_rabbitmq.broker.native import NativeBroker
from common.settings import Settings

pytestmark = pytest.mark.unit


def test_environment_keeps_the_node_local_and_separate(tmp_path):
    s = Settings(run_dir=tmp_path, rabbitmq_port=5999, rabbitmq_mgmt_port=15999, rabbitmq_dist_port=25999,
                 rabbitmq_nodename="other@localhost")
    b = NativeBroker(s)
    env = b.env()
    assert env["RABBITMQ_NODE_IP_ADDRESS"] == "127.0.0.1" and env["ERL_EPMD_ADDRESS"] == "127.0.0.1"
    assert (env["RABBITMQ_NODE_PORT"], env["RABBITMQ_DIST_PORT"]) == ("5999", "25999")
    assert env["RABBITMQ_NODENAME"] == "other@localhost"
    assert "inet_dist_use_interface {127,0,0,1}" in env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    assert all(str(tmp_path) in env[k] for k in ("HOME", "RABBITMQ_MNESIA_BASE", "RABBITMQ_LOG_BASE"))
    conf = b.config()
    assert "management.tcp.ip = 127.0.0.1" in conf and "management.tcp.port = 15999" in conf
    assert b.argv()[-1].endswith("rabbitmq-server")


def test_a_fresh_node_joins_node_1_only_once_node_1_has_booted(tmp_path, monkeypatch):
    """The cluster's nodes start together: joining node 1 while it still boots fails (rabbitmqctl join_cluster)."""
    import async_rabbitmq.broker.native as native
    from async_rabbitmq.messaging.nodes import nodes

    s = Settings(run_dir=tmp_path, brokers=3)
    first, second = nodes(s)[:2]
    b = NativeBroker(s, node=second)
    booted = {second.nodename}
    joined = []

    def api(path, node=None):
        node = node or b.node
        if node.nodename not in booted:
            return None
        return [{"name": node.nodename}] if path == "nodes" else {}

    monkeypatch.setattr(native, "_listening", lambda port, host="127.0.0.1": True)
    monkeypatch.setattr(b, "_api", api)
    monkeypatch.setattr(b, "join", joined.append)
    assert b.ready() is False and joined == []  # node 1 is still booting: not yet
    booted.add(first.nodename)
    assert b.ready() is False and joined == [first.nodename]  # now it joins; ready once a member
