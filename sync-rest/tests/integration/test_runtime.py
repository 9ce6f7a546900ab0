"""The native runtime on Part A's real processes: crash visibility, fault injection by environment at
start, clear failures, port clashes, and `down` leaving nothing running."""
import socket
import subprocess
import sys

import psutil
import pytest
import requests

from common.settings import ROOT
from labkit.runtime.control import Part, StackError

pytestmark = pytest.mark.integration


def health(settings, svc_url):
    return requests.get(f"{svc_url}/health", timeout=3).json()


def test_crash_is_visible_in_ps_and_start_recovers(native_stack, settings):
    part = Part("sync-rest", settings)
    pid = part.pid("inventory-service")
    native_stack.kill("inventory-service")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    rows = {r.service: r for r in part.rows()}
    assert rows["inventory-service"].state == "CRASHED"
    out = subprocess.run([sys.executable, "-m", "labkit.runtime", "ps"], cwd=ROOT, capture_output=True, text=True)
    assert "CRASHED" in out.stdout and "inventory-service" in out.stdout
    native_stack.start("inventory-service")
    assert {r.service: r.state for r in part.rows()}["inventory-service"] == "RUNNING"


def test_faults_come_from_the_environment_at_start_and_default_off(native_stack, settings):
    native_stack.start("inventory-service", env={"FORCE_FAILURE": "true", "INVENTORY_DELAY_MS": "10"})
    assert health(settings, settings.inventory_url)["faults"] == {"delay_ms": 10, "force_failure": True}
    native_stack.start("inventory-service")
    assert health(settings, settings.inventory_url)["faults"] == {"delay_ms": 0, "force_failure": False}


def test_cli_start_passes_the_callers_environment(native_stack, settings):
    env = {**__import__("os").environ, "FORCE_FAILURE": "true"}
    subprocess.run([sys.executable, "-m", "labkit.runtime", "start", "sync-rest", "inventory-service"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    assert health(settings, settings.inventory_url)["faults"]["force_failure"] is True
    native_stack.start("inventory-service")


def test_a_service_that_cannot_start_fails_clearly(native_stack):
    with pytest.raises(StackError) as err:
        native_stack.start("inventory-service", env={"INVENTORY_DELAY_MS": "-1"})
    assert "inventory-service" in str(err.value) and "inventory_delay_ms" in str(err.value).lower()
    native_stack.start("inventory-service")


def test_port_clash_is_reported(native_stack, settings):
    native_stack.stop("notification-service")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", settings.notification_port))
        squatter.listen()
        with pytest.raises(StackError) as err:
            native_stack.start("notification-service")
    assert f"port {settings.notification_port} is already in use" in str(err.value)
    native_stack.start("notification-service")


def test_down_leaves_nothing_running(native_stack, settings):
    part = Part("sync-rest", settings)
    pids = [part.pid(s.name) for s in part.services] + [part.supervisor_pid()]
    subprocess.run([sys.executable, "-m", "labkit.runtime", "down", "sync-rest"], cwd=ROOT, check=True, capture_output=True)
    alive = [p for p in pids if p and psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    for port in (settings.order_port, settings.inventory_port, settings.notification_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
    native_stack.up()  # the rest of the session continues with a running stack
