"""Clean stops: every service process exits 0 on SIGTERM, with or without a broker to talk to."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from common.settings import ROOT

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("module", ["inventory_service", "notification_service", "order_service"])
def test_sigterm_while_the_broker_is_unreachable_exits_0(module, tmp_path):
    port = free_port()
    env = os.environ | {"RABBITMQ_PORT": str(free_port()),
                        "DATA_DIR": str(tmp_path), "ORDER_PORT": str(port), "INVENTORY_PORT": str(port),
                        "NOTIFICATION_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", f"async_rabbitmq.{module}"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # wait until it serves HTTP (and is retrying the broker)
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "retrying in" in out and f"{module.replace('_', '-')} stopped" in out


def test_stop_with_the_broker_up_is_clean(native_stack):
    native_stack.stop("notification-service")
    log = native_stack.logs("notification-service", 20)
    native_stack.start("notification-service")
    assert "notification-consumer stopped" in log and "notification-service stopped" in log
