"""The cluster's nodes from the settings: distinct names and ports derived from the configured ones."""
import pytest

from async_rabbitmq.lab.broker.native import NativeBroker
from async_rabbitmq.messaging import nodes
from async_rabbitmq.messaging.amqp import all_parameters
from common.settings import Settings

pytestmark = pytest.mark.unit


def test_one_node_by_default_keeps_the_single_node_names():
    s = Settings(rabbitmq_port=7000, rabbitmq_nodename="lab@localhost")
    (only,) = nodes.nodes(s)
    assert (only.service, only.nodename, only.amqp_port, only.dir_name) == ("rabbitmq", "lab@localhost", 7000,
                                                                             "rabbitmq")
    assert nodes.queue_type(s) == "classic"


def test_three_nodes_get_their_own_names_ports_and_folders(tmp_path):
    s = Settings(run_dir=tmp_path, cluster_size=3, rabbitmq_port=7572, rabbitmq_mgmt_port=7573, rabbitmq_dist_port=7574,
                 rabbitmq_nodename="foodlab-k@localhost", rabbitmq_node_step=10)
    ns = nodes.nodes(s)
    assert [n.service for n in ns] == ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    assert [n.nodename for n in ns] == [f"foodlab-k{i}@localhost" for i in (1, 2, 3)]
    assert [(n.amqp_port, n.mgmt_port, n.dist_port) for n in ns] == [(7572, 7573, 7574), (7582, 7583, 7584),
                                                                     (7592, 7593, 7594)]
    assert [p.port for p in all_parameters(s)] == [7572, 7582, 7592]
    assert nodes.queue_type(s) == "quorum" and nodes.queue_type(s.model_copy(update={"rabbitmq_queue_type":
                                                                                       "classic"})) == "classic"
    envs = [NativeBroker(s, node=n).env() for n in ns]
    assert len({e["RABBITMQ_MNESIA_BASE"] for e in envs}) == 3 and len({e["HOME"] for e in envs}) == 3
    assert {e["ERL_EPMD_PORT"] for e in envs} == {str(s.rabbitmq_epmd_port)}  # one epmd: how they find each other
    assert all(e["RABBITMQ_NODE_IP_ADDRESS"] == "127.0.0.1" for e in envs)
    assert "management.tcp.port = 7583" in NativeBroker(s, node=ns[1]).config()


def test_named_nodes_each_on_its_own_host_or_on_given_ports():
    inside = Settings(rabbitmq_nodes="rabbit@rabbitmq,rabbit@rabbitmq-2,rabbit@rabbitmq-3")
    assert inside.cluster_size == 3 and nodes.queue_type(inside) == "quorum"
    assert [(n.service, n.nodename, n.host, n.amqp_port, n.mgmt_port) for n in nodes.nodes(inside)] == [
        ("rabbitmq", "rabbit@rabbitmq", "rabbitmq", 5672, 15672),
        ("rabbitmq-2", "rabbit@rabbitmq-2", "rabbitmq-2", 5672, 15672),
        ("rabbitmq-3", "rabbit@rabbitmq-3", "rabbitmq-3", 5672, 15672)]
    outside = Settings(rabbitmq_nodes="rabbit@a=127.0.0.1:5672:15672,rabbit@b=127.0.0.1:5682")
    assert [(n.host, n.amqp_port, n.mgmt_port) for n in nodes.nodes(outside)] == [("127.0.0.1", 5672, 15672),
                                                                                  ("127.0.0.1", 5682, 15672)]
    assert nodes.by_nodename(outside, "rabbit@b").service == "rabbitmq-2"


@pytest.mark.parametrize("bad", ["rabbitmq", "rabbit@a,", "rabbit@a=h:x", "rabbit@a b"])
def test_named_nodes_must_be_node_names(bad):
    with pytest.raises(ValueError):
        Settings(rabbitmq_nodes=bad)
