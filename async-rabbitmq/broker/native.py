"""Run Debian's RabbitMQ natively under the part's supervisor: project-local, loopback-only, its own node name.

Everything lives under `.run/async-rabbitmq/rabbitmq/` (data, logs, cookie,
config), owned by the `rabbitmq` user, which the server runs as when we are
root. The node never touches another RabbitMQ on the machine: its own node
name, ports from settings, its own cookie; the epmd it starts is stopped by
pid only when no other node is registered in it.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import psutil
import requests

from common.settings import Settings

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
USER = "rabbitmq"


class BrokerSetupError(SystemExit):
    """The broker cannot be installed or prepared: exits with a message saying what to do."""


def ensure_installed(settings: Settings) -> None:
    """Install Debian's rabbitmq-server when it is missing (root only), without starting the system service."""
    if (RABBIT_BIN / "rabbitmq-server").exists():
        return
    if not settings.rabbitmq_install:
        raise BrokerSetupError("rabbitmq-server is not installed (RABBITMQ_INSTALL=false): "
                               "apt-get install -y rabbitmq-server")
    if os.geteuid() != 0:
        raise BrokerSetupError("rabbitmq-server is not installed; run as root once, or: "
                               "sudo apt-get update && sudo apt-get install -y rabbitmq-server")
    # RUNLEVEL=1 makes invoke-rc.d skip starting the system service: we run our own node.
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "rabbitmq-server"]):
        if subprocess.run(cmd, env=env, check=False).returncode != 0:
            raise BrokerSetupError(f"`{' '.join(cmd)}` failed; install rabbitmq-server by hand and retry")


class NativeBroker:
    """Paths, environment and lifecycle hooks of the part's RabbitMQ node."""

    def __init__(self, settings: Settings, part: str = "async-rabbitmq"):
        self.settings = settings
        self.base = settings.part_dir(part) / "rabbitmq"
        self.home = self.base / "home"
        self.conf_dir = self.base / "conf"
        self.mnesia = self.base / "mnesia"
        self.log_dir = self.base / "log"
        self.pid_file = self.base / "rabbitmq.pid"
        self.epmd_marker = self.base / "epmd.ours"

    # -- what supervisord runs -------------------------------------------
    def run_as(self) -> list[str]:
        """Drop to the rabbitmq user when we are root (the server must not run as root)."""
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam(USER)
        except KeyError:
            return []
        return ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--"]

    def argv(self) -> list[str]:
        return [*self.run_as(), str(RABBIT_BIN / "rabbitmq-server")]

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            "HOME": str(self.home),  # the Erlang cookie lives here
            "RABBITMQ_CONF_ENV_FILE": str(self.conf_dir / "rabbitmq-env.conf"),  # empty: skip the system env file
            "RABBITMQ_CONFIG_FILE": str(self.conf_dir / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.conf_dir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.conf_dir / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.base / "plugins-expand"),
            "RABBITMQ_NODENAME": s.rabbitmq_nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(s.rabbitmq_port),
            "RABBITMQ_DIST_PORT": str(s.rabbitmq_dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.mnesia),
            "RABBITMQ_LOG_BASE": str(self.log_dir),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(s.rabbitmq_epmd_port),
            "RABBITMQ_LOGS": "-",  # to stdout, i.e. the service log the runtime keeps
        }

    def config(self) -> str:
        s = self.settings
        return "\n".join([
            "loopback_users.guest = true",
            "management.tcp.ip = 127.0.0.1",
            f"management.tcp.port = {s.rabbitmq_mgmt_port}",
            # Fresher queue figures in the management API (default 5 s) for the scenarios' depth samples.
            "collect_statistics_interval = 1000",
            f"heartbeat = {s.rabbitmq_heartbeat_s}",
            "",
        ])

    # -- hooks for the runtime ---------------------------------------------
    def prepare(self) -> None:
        ensure_installed(self.settings)
        for d in (self.base, self.home, self.conf_dir, self.mnesia, self.log_dir, self.base / "plugins-expand"):
            d.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "rabbitmq-env.conf").write_text("")
        (self.conf_dir / "rabbitmq.conf").write_text(self.config())
        (self.conf_dir / "advanced.config").write_text("[].\n")
        (self.conf_dir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        self.pid_file.unlink(missing_ok=True)
        # The epmd the node starts outlives it; remember whether it will be ours to stop (an epmd already
        # listening is ours only if an earlier start of this node left the marker).
        if not _listening(self.settings.rabbitmq_epmd_port):
            self.epmd_marker.write_text("")
        if self.run_as():
            shutil.chown(self.base, USER, USER)
            for root, dirs, files in os.walk(self.base):
                for name in dirs + files:
                    shutil.chown(os.path.join(root, name), USER, USER)

    def ready(self) -> bool:
        """Ready when AMQP accepts connections and the management API answers (it starts last)."""
        s = self.settings
        if not _listening(s.rabbitmq_port, s.rabbitmq_host):
            return False
        try:
            r = requests.get(f"http://{s.rabbitmq_host}:{s.rabbitmq_mgmt_port}/api/overview",
                             auth=(s.rabbitmq_user, s.rabbitmq_password), timeout=2)
        except requests.RequestException:
            return False
        return r.status_code == 200

    def cleanup(self) -> None:
        """Stop the epmd our node started, by pid, unless another node still uses it."""
        if not self.epmd_marker.exists():
            return
        port = self.settings.rabbitmq_epmd_port
        names = subprocess.run(["epmd", "-port", str(port), "-names"], capture_output=True, text=True, check=False,
                               env=os.environ | {"ERL_EPMD_ADDRESS": "127.0.0.1"})
        if "at port" in names.stdout:  # some node is still registered: not ours to stop
            return
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                try:
                    if psutil.Process(conn.pid).name() == "epmd":
                        os.kill(conn.pid, signal.SIGTERM)
                except (psutil.Error, ProcessLookupError):
                    pass
        self.epmd_marker.unlink(missing_ok=True)


def _listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0
