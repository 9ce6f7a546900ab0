"""A failed `make up` leaves nothing behind: Part A's order service (started last) finds its port held by a plain
listener, `up` exits non-zero naming the holder, and afterwards `ps` shows nothing of the part, no supervisord of
it is left and the ports of the services it had started are free again. Real processes: run under the flock."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from common.settings import ROOT, Settings
from labkit.runtime.control import port_owner
from labkit.testing import STACKS

pytestmark = pytest.mark.integration


def cli(run_dir, *args):
    return subprocess.run([sys.executable, "-m", "labkit.runtime", *args], cwd=ROOT, capture_output=True, text=True,
                          env=os.environ | {"RUN_DIR": str(run_dir)}, timeout=300)


@pytest.fixture
def run_dir():
    """A run directory of its own (not pytest's tmp_path, which another pytest process may prune meanwhile); a
    part left running there by a failure is taken down."""
    path = Path(tempfile.mkdtemp(prefix="foodlab-failed-up-"))
    yield path
    cli(path, "down")
    shutil.rmtree(path, ignore_errors=True)


def test_a_failed_up_stops_what_it_started_and_says_who_holds_the_port(run_dir):
    tmp_path = run_dir
    STACKS.release()  # this session's own stack, if any, would hold the same ports
    settings = Settings()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", settings.order_port))
        squatter.listen()
        up = cli(tmp_path, "up", "sync-rest")
        assert up.returncode != 0
        assert f"port {settings.order_port} is already in use by pid {os.getpid()}" in up.stderr, up.stderr
        assert "Traceback" not in up.stderr
        # the two services started before the clash were healthy, then stopped again
        assert "notification-service: healthy" in up.stdout and "inventory-service: healthy" in up.stdout
    ps = cli(tmp_path, "ps")
    assert ps.returncode == 0
    assert not [line for line in ps.stdout.splitlines() if line.startswith("sync-rest")], ps.stdout
    left = [p.pid for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert left == []
    assert port_owner(settings.notification_port) is None and port_owner(settings.inventory_port) is None
