"""The docker ring's checks every part shares: what only a compose stack on a real engine shows.

Imported into `<part>/tests/docker/test_docker_<part>.py` (which defines the `ring` fixture: the part's service
names) and run by `make test` after the part's scenario ring ran against the same compose stack. The
volume check takes the stack down and up again, and ends with a fresh stack: the checks a part's own file
defines after these imported ones (Part B's guest and management UI) still need it.
"""
from __future__ import annotations

import pytest
import requests

from labkit import dockercheck as dc
from labkit.stack import DockerStack, wait_for, wait_healthy

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def client_settings(docker_stack):
    """A client's settings for the compose stack: its published ports and the compose RabbitMQ account."""
    return docker_stack.settings


def test_the_dashboard_reads_every_service_over_the_compose_network(client_settings):
    """The compose service `dashboard` on 127.0.0.1:6003: its page, and every service up in its state."""
    base = f"http://127.0.0.1:{client_settings.dashboard_port}"
    assert requests.get(f"{base}/", timeout=10).headers["Content-Type"].startswith("text/html")

    def all_up() -> bool:
        state = requests.get(f"{base}/api/state", timeout=10).json()
        return bool(state["services"]) and all(s["up"] and s["metrics"] for s in state["services"]) \
            and state["text"]["orders_confirmed"].isdigit()

    wait_for(all_up, 30, interval=1.0, what="the dashboard to see every service up")


def test_ports_are_published_on_loopback_only(docker_stack):
    published = dc.published(docker_stack)
    ports = {port for bindings in published.values() for _, port in bindings}
    assert ports and all(ip == "127.0.0.1" for b in published.values() for ip, _ in b), published
    others = dc.host_addresses()
    for port in ports:
        assert dc.listeners(port) <= {"127.0.0.1"}, f"port {port}: host listens on {dc.listeners(port)}"
        assert dc.connects("127.0.0.1", port)
        reachable = [a for a in others if dc.connects(a, port, timeout=1)]
        assert not reachable, f"port {port} answers on {reachable}"


def test_services_run_as_non_root(docker_stack, ring):
    uids = dc.process_uids(docker_stack)
    for svc in ring["built"]:
        assert uids[svc][0] != 0 and uids[svc][1] != 0, f"{svc} runs as uid {uids[svc]}"


def test_services_find_each_other_by_name(docker_stack, ring):
    names = [s for s in dc.containers(docker_stack) if s != ring["front"]]
    seen = dc.resolve_from(docker_stack, ring["front"], names)
    own = dc.addresses(docker_stack)
    assert all(seen[n] in own[n] for n in names), (seen, own)


def test_the_service_image_holds_only_service_code(docker_stack, ring):
    """In the built image, every service module and the kernel import; the lab kit and the part's lab do not."""
    package = docker_stack.part.replace("-", "_")
    lab = ["labkit", f"{package}.lab"]
    seen = dc.imports(docker_stack, ring["built"][0], [package, "common"], lab)
    assert not seen["failed"], seen["failed"]
    assert {f"{package}.{svc.replace('-', '_')}" for svc in ring["built"]} <= set(seen["imported"]), seen["imported"]
    assert seen["lab"] == {name: f"ModuleNotFoundError: {name}" for name in lab}, seen["lab"]


def test_healthchecks_gate_depends_on(docker_stack):
    gates = dc.health_gates(docker_stack, docker_stack.up_events)
    assert gates, "no depends_on with condition service_healthy"
    for g in gates:
        assert g["dep_healthy_ns"] and g["started_ns"], g
        assert g["started_ns"] >= g["dep_healthy_ns"], f"{g['service']} started before {g['depends_on']} was healthy"


def test_admin_endpoints_answer_404_unless_enabled(docker_stack, ring, client_settings):
    url = client_settings.inventory_url
    plain = DockerStack(docker_stack.part, client_settings, admin=False, env=docker_stack.env,
                        project_name=docker_stack.project)
    try:
        plain.start(ring["inventory"])  # as `docker compose up` with no ADMIN_API
        for r in (requests.post(f"{url}/admin/reset", json={}, timeout=5), requests.get(f"{url}/admin/status", timeout=5)):
            assert r.status_code == 404 and r.json()["error"] == "not_found"
    finally:
        docker_stack.start(ring["inventory"])  # ADMIN_API=true again
    assert requests.get(f"{url}/admin/status", timeout=5).json() == {"admin_api": True}


def test_restart_policy_keeps_a_killed_service_down_and_restarts_a_crashed_one(docker_stack, ring):
    inventory, other = ring["inventory"], ring["crashable"]
    assert dc.state(docker_stack, inventory)["policy"] == "unless-stopped"
    try:
        docker_stack.kill(inventory)  # what the crash scenarios do (`docker compose kill -s SIGKILL`)
        wait_for(lambda: dc.state(docker_stack, inventory)["status"] == "exited", 30, what=f"{inventory} to exit")
        # A crash the engine did not cause (the main process killed from the host): the policy restarts it ...
        before = dc.state(docker_stack, other)["restarts"]
        dc.crash(docker_stack, other)
        wait_for(lambda: (s := dc.state(docker_stack, other))["restarts"] > before and s["status"] == "running", 60,
                 what=f"the engine to restart {other}")
        wait_healthy(docker_stack.health_url(other), 60)
        # ... while the killed one, killed earlier, is still down: it stays down until someone starts it.
        s = dc.state(docker_stack, inventory)
        assert (s["status"], s["restarts"]) == ("exited", 0), s
    finally:
        docker_stack.start(inventory)


def test_volumes_survive_down_and_up_and_go_with_down_v(docker_stack, client_settings):
    url = client_settings.inventory_url
    marker = {"pizza": 42, "soda": 7}
    assert requests.post(f"{url}/admin/reset", json={"stock": marker}, timeout=10).json() == marker
    names = dc.volumes(docker_stack)
    assert names
    docker_stack.down(volumes=False)
    assert sorted(dc.volumes(docker_stack)) == sorted(names) and not dc.containers(docker_stack)
    docker_stack.up(build=False)  # the image this session built
    kept = requests.get(f"{url}/stock", timeout=10).json()
    assert {k: kept.get(k) for k in marker} == marker  # the store lives on its volume
    docker_stack.down(volumes=True)
    assert dc.volumes(docker_stack) == []
    docker_stack.up(build=False)  # the image this session built
    fresh = requests.get(f"{url}/stock", timeout=10).json()
    assert {k: fresh.get(k) for k in marker} != marker
    assert requests.post(f"{url}/admin/reset", json={}, timeout=10).json() == fresh  # the initial stock
