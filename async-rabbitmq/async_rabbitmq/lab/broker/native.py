"""Run Debian's RabbitMQ natively under the part's supervisor: project-local, loopback-only, its own node name.

Everything lives under `.run/async-rabbitmq/rabbitmq/` (data, logs, cookie,
config), owned by the `rabbitmq` user, which the server runs as when we are
root. The node never touches another RabbitMQ on the machine: its own node
name, ports from settings, its own cookie; the epmd it starts is stopped by
pid only when no other node is registered in it.

With BROKERS=N each node gets its own folder (`rabbitmq-<i>/`), name and ports
(`messaging/nodes.py`), and all of them one cookie; nodes 2..N join node 1
(`rabbitmqctl stop_app`, `join_cluster`, `start_app`) the first time they start.
Later starts rejoin by themselves: the membership is stored in their data. A clustered node enables only the
feature flags of the broker itself (CORE_FEATURE_FLAGS), never a plugin's.
"""
from __future__ import annotations

import os
import pwd
import secrets
import signal
import socket
import subprocess
from pathlib import Path

import psutil
import requests

from async_rabbitmq.messaging.nodes import Node, nodes
from common.errors import StackError
from common.settings import ROOT, Settings
from labkit.runtime.safefs import chown_tree, ensure_secret, private_dir, write_private

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
USER = "rabbitmq"
# The feature flags RabbitMQ 3.10.8 declares in its own `rabbit` application: a node knows them from the start
# of its boot. A clustered node enables these and no other on its first boot (RABBITMQ_FEATURE_FLAGS); left to
# itself it would enable the management agent's drop_unroutable_metric and empty_basic_get_metric too. A plugin's
# flags are known to a node only once it has loaded its plugins, which it does after its Mnesia has started and
# peers reach it. Nodes booting at the same moment (all of them after a `kill -9` of each) sync their flags with a
# random running member, asking it to enable every flag they have enabled: a member still loading its plugins
# crashes on a flag it does not know yet, and the asking node refuses to boot (`incompatible_feature_flags`).
# Those two flags only add the `drop_unroutable` and `get_empty` counters to the management API's message stats.
CORE_FEATURE_FLAGS = ("classic_mirrored_queue_version", "implicit_default_bindings", "maintenance_mode_status",
                      "quorum_queue", "stream_queue", "user_limits", "virtual_host_metadata")


class BrokerSetupError(StackError):
    """The broker cannot be installed or prepared; the message says what to do (a StackError: the command line
    prints it and exits 1)."""


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
    wait = ["-o", "DPkg::Lock::Timeout=600"]  # another install running (make test readies Docker meanwhile): wait
    for cmd in (["apt-get", *wait, "update"],
                ["apt-get", *wait, "install", "-y", "--no-install-recommends", "rabbitmq-server"]):
        if subprocess.run(cmd, env=env, check=False).returncode != 0:
            raise BrokerSetupError(f"`{' '.join(cmd)}` failed; install rabbitmq-server by hand and retry")


def prometheus_port(settings: Settings, node: Node) -> int:
    """Where a node's rabbitmq_prometheus plugin listens (loopback): RABBITMQ_PROMETHEUS_PORT, plus the node step."""
    return settings.rabbitmq_prometheus_port + (node.index - 1) * settings.rabbitmq_node_step


def closed_ancestors(run_dir: Path, checkout: Path) -> list[Path]:
    """The folders inside the checkout above `run_dir` that other users cannot pass through, outermost first. The
    runtime makes a nested RUN_DIR's missing parents owner-only (e.g. `.run/tests/<x>`); each would stop the
    rabbitmq user on its way to its node's folder, so each is given that user's group to pass through too."""
    return [p for p in reversed(run_dir.parents) if checkout in p.parents and not os.stat(p).st_mode & 0o001]


class NativeBroker:
    """Paths, environment and lifecycle hooks of the part's RabbitMQ node."""

    def __init__(self, settings: Settings, part: str = "async-rabbitmq", node: Node | None = None):
        self.settings = settings
        self.node = node or nodes(settings)[0]
        self.cluster = nodes(settings) if settings.cluster_size > 1 else []
        self.base = settings.part_dir(part) / self.node.dir_name
        self.cookie_file = settings.part_dir(part) / "rabbitmq-cluster.cookie"
        self.home = self.base / "home"
        self.conf_dir = self.base / "conf"
        self.mnesia = self.base / "mnesia"
        self.log_dir = self.base / "log"
        self.pid_file = self.base / "rabbitmq.pid"
        self.epmd_marker = settings.part_dir(part) / "rabbitmq-epmd.ours"  # one epmd for all of the part's nodes

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
        flags = {"RABBITMQ_FEATURE_FLAGS": ",".join(CORE_FEATURE_FLAGS)} if self.cluster else {}
        return flags | {
            "HOME": str(self.home),  # the Erlang cookie lives here
            "RABBITMQ_CONF_ENV_FILE": str(self.conf_dir / "rabbitmq-env.conf"),  # empty: skip the system env file
            "RABBITMQ_CONFIG_FILE": str(self.conf_dir / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.conf_dir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.conf_dir / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.base / "plugins-expand"),
            "RABBITMQ_NODENAME": self.node.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.node.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.node.dist_port),
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
            f"management.tcp.port = {self.node.mgmt_port}",
            "prometheus.tcp.ip = 127.0.0.1",
            f"prometheus.tcp.port = {prometheus_port(s, self.node)}",
            # Fresher queue figures in the management API (default 5 s) for the scenarios' depth samples.
            "collect_statistics_interval = 1000",
            f"heartbeat = {s.rabbitmq_heartbeat_s}",
            "",
        ])

    # -- hooks for the runtime ---------------------------------------------
    def prepare(self) -> None:
        ensure_installed(self.settings)
        user = self._user()
        # Nobody but us (and, when the server runs as rabbitmq, that user passing through) enters .run/: it holds
        # the cookie, the services' environments and their logs.
        closed = closed_ancestors(self.settings.run_dir, ROOT) if user else []
        for d in (*closed, self.settings.run_dir, self.cookie_file.parent):
            private_dir(d, group=user.pw_gid if user else None)
        for d in (self.base, self.home, self.conf_dir, self.mnesia, self.log_dir, self.base / "plugins-expand"):
            d.mkdir(parents=True, exist_ok=True)
        # The node's folder is the rabbitmq user's: never write through a link it planted (write_private
        # replaces the name, and refuses a folder swapped for a link).
        for name, text in (("rabbitmq-env.conf", ""), ("rabbitmq.conf", self.config()),
                           ("advanced.config", "[].\n"), ("enabled_plugins", "[rabbitmq_management,rabbitmq_prometheus].\n")):
            write_private(self.conf_dir / name, text, mode=0o644)
        self.pid_file.unlink(missing_ok=True)
        if self.cluster:  # clustered nodes must share the Erlang cookie (the server and the CLI read it from HOME)
            # Whoever reads the cookie can run code on the nodes: owner-only from its first byte.
            cookie = ensure_secret(self.cookie_file, lambda: secrets.token_hex(16).upper())
            write_private(self.home / ".erlang.cookie", cookie, mode=0o400,
                          owner=(user.pw_uid, user.pw_gid) if user else None)
        # The epmd the node starts outlives it; remember whether it will be ours to stop (an epmd already
        # listening is ours only if an earlier start of this node left the marker).
        if not _listening(self.settings.rabbitmq_epmd_port):
            self.epmd_marker.write_text("")
        if user:
            chown_tree(self.base, user.pw_uid, user.pw_gid)  # links are chowned themselves, never their targets

    def _user(self) -> pwd.struct_passwd | None:
        """The user the server runs as when it is not us (run_as())."""
        return pwd.getpwnam(USER) if self.run_as() else None

    def ready(self) -> bool:
        """Ready when AMQP accepts connections and the management API answers (it starts last); on a cluster,
        when the node is also a member with node 1 (joining it first if it is not yet)."""
        if not _listening(self.node.amqp_port, self.node.host) or self._api("overview") is None:
            return False
        if not self.cluster:
            return True
        first = self.cluster[0].nodename
        members = {n["name"] for n in self._api("nodes") or []}
        if first in members:
            return True
        # A fresh node joins node 1 once node 1 has booted: the nodes are started together, and joining a node
        # that is still booting fails.
        if self.node.index > 1 and self._api("overview", self.cluster[0]) is not None:
            self.join(first)
        return False

    def _api(self, path: str, node: Node | None = None):
        s = self.settings
        node = node or self.node
        try:
            r = requests.get(f"http://{node.host}:{node.mgmt_port}/api/{path}",
                             auth=(s.rabbitmq_user, s.rabbitmq_password), timeout=2)
        except requests.RequestException:
            return None
        return r.json() if r.status_code == 200 else None

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """`rabbitmqctl -n <this node> ...` with the node's environment (its cookie), as the server's user."""
        return subprocess.run([*self.run_as(), str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node.nodename, *args],
                              env=os.environ | self.env(), capture_output=True, text=True, timeout=timeout,
                              check=False)

    def join(self, first: str) -> None:
        """Make this (fresh) node a member of node 1's cluster; the app restarts, so readiness is polled again."""
        for args in (("stop_app",), ("join_cluster", first), ("start_app",)):
            out = self.ctl(*args)
            if out.returncode != 0:
                raise BrokerSetupError(f"rabbitmqctl {' '.join(args)} on {self.node.nodename} failed: "
                                       f"{(out.stderr or out.stdout).strip()[-400:]}")

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
