"""Start, stop and inspect a part's services: one supervisord per part, driven over its XML-RPC socket.

Every program is started by us in the order its part declares, and we wait
for it to be ready; programs never restart on their own, so a crash stays
visible in `ps` until someone starts the service again.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from supervisor.xmlrpc import SupervisorTransport

from common.errors import StackError
from common.settings import ROOT, Settings, check_environment, get_settings
from labkit.runtime.compose import port_holder
from labkit.runtime.envspec import service_environment
from labkit.runtime.safefs import private_dir, remove_under, write_private
from labkit.runtime.spec import PARTS, Service, load_data, load_services

_PROGRAM = """
[program:{name}]
command={python} -m labkit.runtime.launch {spec}
directory={root}
autostart=false
autorestart=false
startsecs=0
startretries=0
stopsignal=TERM
stopwaitsecs={stop_wait}
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={log}
stdout_logfile_maxbytes=100MB
stdout_logfile_backups=1
"""

_SUPERVISORD = """
[unix_http_server]
file={sock}
chmod=0700

[supervisord]
logfile={logs}/supervisord.log
pidfile={pid}
childlogdir={logs}
directory={root}
minfds=4096

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}
"""


@dataclass
class Row:
    part: str
    service: str
    state: str
    pid: int | None
    port: int | None
    detail: str


class Part:
    """One part's native stack."""

    def __init__(self, name: str, settings: Settings | None = None):
        self.name = name
        self.settings = settings or get_settings()
        self.dir = self.settings.part_dir(name)
        self.sock = self.dir / "supervisor.sock"
        self.logs = self.dir / "logs"
        self.envdir = self.dir / "env"
        self._services: list[Service] | None = None

    # -- declarations ------------------------------------------------------
    @property
    def services(self) -> list[Service]:
        if self._services is None:
            self._services = load_services(self.name, self.settings)
        return self._services

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        names = ", ".join(s.name for s in self.services)
        raise StackError(f"{self.name} has no service {name!r}; its services are: {names}")

    def log_path(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    # -- supervisord -------------------------------------------------------
    def _rpc(self):
        transport = SupervisorTransport(None, None, f"unix://{self.sock}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def alive(self) -> bool:
        if not self.sock.exists():
            return False
        try:
            return self._rpc().getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def _write_config(self) -> Path:
        for d in (self.settings.run_dir, self.dir):  # logs, environments, cookie: other users stay out
            private_dir(d)
        for d in (self.dir, self.logs, self.envdir):
            d.mkdir(parents=True, exist_ok=True)
        self.envdir.chmod(0o700)
        conf = _SUPERVISORD.format(sock=self.sock, logs=self.logs, pid=self.dir / "supervisord.pid", root=ROOT)
        for svc in self.services:
            conf += _PROGRAM.format(name=svc.name, python=sys.executable, spec=self.envdir / f"{svc.name}.json",
                                    root=ROOT, stop_wait=svc.stop_wait_s, log=self.log_path(svc.name))
        path = self.dir / "supervisord.conf"
        path.write_text(conf)
        return path

    def _ensure_supervisord(self) -> None:
        if self.alive():
            self._check_programs()
            return
        if self.sock.exists():
            self.sock.unlink()
        conf = self._write_config()
        subprocess.run([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)], check=True, cwd=ROOT)
        deadline = time.monotonic() + 15
        while not self.alive():
            if time.monotonic() > deadline:
                raise StackError(f"supervisord for {self.name} did not start; see {self.logs}/supervisord.log")
            time.sleep(0.1)

    def _check_programs(self) -> None:
        """supervisord has the programs of the services declared when it started. Declared otherwise now
        (another BROKERS), they are refused here, before anything is prepared, formatted or written for them:
        supervisord would refuse the first new program only after its storage was made."""
        known = {p["name"] for p in self._rpc().getAllProcessInfo()}
        wanted = {s.name for s in self.services}
        if known == wanted:
            return
        differs = [f"{what} {', '.join(sorted(names))}" for what, names in
                   (("has", known - wanted), ("has no", wanted - known)) if names]
        raise StackError(f"{self.name} is running and {' and '.join(differs)} (BROKERS changed?): "
                         f"run `make down` first, then `make up` again")

    def _capture_env(self, svc: Service, env: dict[str, str] | None) -> None:
        """Record the environment for this service (the caller's by default): that is how faults are injected.

        Only the variables the service reads are kept (`service_environment`), in a file only we can read."""
        env = dict(os.environ if env is None else env)
        try:
            check_environment(env)
        except ValueError as err:
            raise StackError(f"cannot start {self.name}/{svc.name}: {err}") from None
        env = service_environment(env)
        env.update(svc.env)
        env["PART"] = self.name
        env["SERVICE_NAME"] = svc.name
        env.setdefault("DATA_DIR", str(self.dir / "data"))
        env["RUN_DIR"] = str(self.settings.run_dir)
        env["PYTHONUNBUFFERED"] = "1"
        if svc.multiprocess_metrics:
            env["PROMETHEUS_MULTIPROC_DIR"] = str(self.dir / "metrics" / svc.name)
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        spec = {"argv": svc.argv, "env": env, "cwd": str(ROOT)}
        self.envdir.mkdir(parents=True, exist_ok=True)
        self.envdir.chmod(0o700)
        write_private(self.envdir / f"{svc.name}.json", json.dumps(spec, indent=1))

    # -- verbs -------------------------------------------------------------
    def up(self, env: dict[str, str] | None = None, progress=print) -> None:
        """Every service of the part, in order, or nothing: a failed `up` stops what it started (and the part's
        supervisord when it started that too), so no part is left half up."""
        fresh, started = not self.alive(), []
        try:
            self._up(env, progress, started)
        except BaseException:  # Ctrl-C included
            self._undo_up(started, fresh)
            raise

    def _up(self, env: dict[str, str] | None, progress, started: list[str]) -> None:
        others = [p for p in PARTS if p != self.name and Part(p, self.settings).running_services()]
        self._ensure_supervisord()
        # profile: started only when asked for by name, like a compose profile
        for group in start_groups([s for s in self.services if not s.profile]):
            todo = []
            for svc in group:
                if self.state(svc.name) == "RUNNING" and svc.is_ready():
                    progress(f"  {self.name}/{svc.name}: already running")
                    continue
                todo.append(svc.name)
            started.extend(todo)  # before the start: a failed start may leave it running
            self.start_together(todo, env, progress=progress, others=others)

    def _undo_up(self, started: list[str], fresh: bool) -> None:
        quiet = lambda _m: None  # noqa: E731 - the caller reports the failure itself
        if fresh:  # nothing of the part ran before this `up`: take it all down, supervisord too
            self.down(progress=quiet)
        else:
            self.stop_together(list(reversed(started)), progress=quiet)

    def start_together(self, names: list[str], env: dict[str, str] | None = None, progress=print,
                       others=()) -> None:
        """Start several services at once, then wait until each is ready (within its own startup timeout)."""
        started = {name: self.start(name, env, progress=progress, others=others, wait=False) for name in names}
        self._await_ready(started, progress)

    def start(self, name: str, env: dict[str, str] | None = None, progress=print, others=(),
              wait: bool = True) -> float:
        """Start the service (again, if it runs) and wait until it is ready, unless told not to wait; returns
        when its process was started."""
        svc = self.service(name)
        self._ensure_supervisord()
        if self.state(name) == "RUNNING":
            self._rpc().stopProcess(name, True)
        for port in filter(None, (svc.port, *svc.extra_ports)):
            owner = self._port_owner_after_exit(port)
            if owner:
                hint = f" ({', '.join(others)} is running: `make down` first)" if others else ""
                compose = port_holder(port)  # a compose stack's docker-proxy: say which stack, and what frees it
                owner += f", {compose}" if compose else ""
                raise StackError(
                    f"cannot start {self.name}/{name}: port {port} is already in use by {owner}{hint}. "
                    f"Stop it, or choose another port with the matching *_PORT environment variable.")
        if svc.prepare:
            svc.prepare()
        self._capture_env(svc, env)
        self._rpc().reloadConfig()
        t0 = time.monotonic()
        self._rpc().startProcess(name, False)
        if wait:
            self._await_ready({name: t0}, progress)
        return t0

    def _await_ready(self, started: dict[str, float], progress=print) -> None:
        """Wait until every service started (name: when) is ready, each within its own startup timeout."""
        pending = dict(started)
        while pending:
            for name, t0 in list(pending.items()):
                svc = self.service(name)
                state = self.state(name)
                if state in ("EXITED", "FATAL", "STOPPED", "BACKOFF"):
                    raise StackError(f"{self.name}/{name} exited while starting ({state}); last log lines:\n"
                                        + self.tail(name, 25))
                if svc.is_ready():
                    del pending[name]
                    progress(f"  {self.name}/{name}: healthy in {time.monotonic() - t0:.1f}s "
                             f"(log: {self.log_path(name)})")
                elif time.monotonic() > t0 + svc.startup_timeout_s:
                    raise StackError(f"{self.name}/{name} was not healthy after {svc.startup_timeout_s:.0f}s; "
                                        f"last log lines:\n" + self.tail(name, 25))
            if pending:
                time.sleep(0.1)

    def stop(self, name: str, progress=print) -> None:
        svc = self.service(name)
        if self.alive() and self.state(name) in ("RUNNING", "STARTING"):
            try:
                self._rpc().stopProcess(name, True)
            except xmlrpc.client.Fault as fault:
                if "NOT_RUNNING" not in fault.faultString:
                    raise
        if svc.cleanup:
            svc.cleanup()
        progress(f"  {self.name}/{name}: stopped")

    def stop_together(self, names: list[str], progress=print) -> None:
        """Stop several services at once: each is sent its stop signal, then all are waited for (each within
        its own stop_wait_s, after which supervisord kills it)."""
        if len(names) <= 1:
            for n in names:
                self.stop(n, progress)
            return
        running = [n for n in names if self.alive() and self.state(n) in ("RUNNING", "STARTING")]
        for n in running:
            try:
                self._rpc().stopProcess(n, False)
            except xmlrpc.client.Fault as fault:
                if "NOT_RUNNING" not in fault.faultString:
                    raise
        deadline = time.monotonic() + max((self.service(n).stop_wait_s for n in running), default=0) + 10
        while time.monotonic() < deadline and any(self.state(n) in ("RUNNING", "STARTING", "STOPPING")
                                                  for n in running):
            time.sleep(0.2)
        for n in names:
            self.stop(n, progress)  # reports it, runs its cleanup; a no-op stop for one already down

    def cluster_size(self, node_name: Callable[[int], str], most: int) -> int | None:
        """How many broker nodes the running part has (`node_name(n)` names node n's program; node 1 is there
        in any mode), or None when the part is not running: then BROKERS alone decides."""
        if not self.alive():  # state() of a stopped part is STOPPED for any name: nothing to read
            return None
        return next((n for n in range(most, 1, -1) if self.state(node_name(n)) != "UNKNOWN"), 1)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Send a signal to the service's whole process group (kill -9 by default); returns the pid."""
        self.service(name)  # an unknown name is an error that lists the part's services
        if not self.alive():
            raise StackError(f"{self.name}/{name} is not running ({self.name} is not up)")
        info = self._rpc().getProcessInfo(name)
        pid = info["pid"]
        if not pid:
            raise StackError(f"{self.name}/{name} is not running")
        try:
            os.killpg(os.getpgid(pid), sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while self.state(name) == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
        return pid

    def _port_owner_after_exit(self, port: int, wait_s: float = 10.0) -> str | None:
        """port_owner(), but a port still held by a process of this part that is exiting (a `kill -9` just
        sent to the service's group: supervisord sees it gone before the kernel frees its sockets) is waited
        for, up to `wait_s`. A port another program holds is reported at once."""
        deadline = time.monotonic() + wait_s
        while True:
            owner = port_owner(port)
            if not owner or time.monotonic() > deadline or not self._exiting_holder(port):
                return owner
            time.sleep(0.1)

    def _exiting_holder(self, port: int) -> bool:
        """The port's holder has no listening pid any more (exiting), or descends from this part's supervisord."""
        pid = listening_pid(port)
        if pid is None:
            return True
        sup = self.supervisor_pid()
        try:
            return sup is not None and any(p.pid == sup for p in psutil.Process(pid).parents())
        except psutil.Error:
            return True

    def supervisor_pid(self) -> int | None:
        """The part's supervisord: every process of the part descends from it."""
        return self._rpc().getPID() if self.alive() else None

    def pid(self, name: str) -> int | None:
        if not self.alive():
            return None
        return self._rpc().getProcessInfo(name)["pid"] or None

    def down(self, progress=print) -> None:
        if not self.alive():
            self._cleanup_all()
            return
        self._services = self._running_layout()
        running = [s for s in reversed(self.services) if self.state(s.name) in ("RUNNING", "STARTING")]
        done: set[str] = set()
        for svc in running:
            if svc.name not in done:
                names = [s.name for s in running if s.name == svc.name or (svc.stop_group and
                                                                            s.stop_group == svc.stop_group)]
                self.stop_together(names, progress)
                done.update(names)
        rpc_pid = self._rpc().getPID()
        try:
            self._rpc().shutdown()
        except (OSError, xmlrpc.client.Error):
            pass
        try:
            psutil.Process(rpc_pid).wait(timeout=20)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            os.kill(rpc_pid, signal.SIGKILL)
        self._cleanup_all()
        progress(f"  {self.name}: down")

    def reset(self, progress=print) -> list[str]:
        """Forget the part's native data (`<package>.stack.DATA` under its run folder: SQLite files, broker data),
        never its logs nor another part's anything, following no link; refused while the part runs. The next `up`
        starts from the initial stock with an empty broker. Returns what was removed."""
        if self.alive():
            raise StackError(f"{self.name} is running: `make down` first, then `make reset PART={self.name}`")
        removed = remove_under(self.dir, load_data(self.name))
        progress(f"  {self.name}: removed {', '.join(removed)} under {self.dir}" if removed
                 else f"  {self.name}: no data under {self.dir}")
        return removed

    def _running_layout(self) -> list[Service]:
        """The services of the layout the part runs with. `make down BROKERS=1` with a cluster up declares one
        broker: the others were left to supervisord's shutdown, which stops its programs one by one (a KRaft
        quorum's last node then hangs until SIGKILL)."""
        known = {p["name"] for p in self._rpc().getAllProcessInfo()}
        if known == {s.name for s in self.services}:
            return self.services
        for n in range(1, 6):  # every BROKERS the settings allow
            services = load_services(self.name, self.settings.model_copy(update={"cluster_size": n}))
            if {s.name for s in services} == known:
                return services
        return self.services

    def _cleanup_all(self) -> None:
        for svc in self.services:
            if svc.cleanup:
                svc.cleanup()

    # -- reading -----------------------------------------------------------
    def state(self, name: str) -> str:
        if not self.alive():
            return "STOPPED"
        try:
            return self._rpc().getProcessInfo(name)["statename"]
        except xmlrpc.client.Fault:
            return "UNKNOWN"

    def running_services(self) -> list[str]:
        if not self.alive():
            return []
        return [p["name"] for p in self._rpc().getAllProcessInfo() if p["statename"] == "RUNNING"]

    def rows(self) -> list[Row]:
        if not self.alive():
            return []
        ports = {s.name: s.port for s in self.services}
        rows = []
        for p in self._rpc().getAllProcessInfo():
            state, detail = p["statename"], p["description"]
            if state == "EXITED":
                state, detail = "CRASHED", f"exited on its own ({detail}); see {self.log_path(p['name'])}"
            rows.append(Row(self.name, p["name"], state, p["pid"] or None, ports.get(p["name"]), detail))
        return rows

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.log_path(name)
        if not path.exists():
            return "(no log yet)"
        with path.open("rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            return "\n".join(fh.read().decode(errors="replace").splitlines()[-lines:])


def start_groups(services: list[Service]) -> list[list[Service]]:
    """The services in start order, those of one start group (declared next to each other) together."""
    groups: list[list[Service]] = []
    for svc in services:
        if groups and svc.start_group and groups[-1][0].start_group == svc.start_group:
            groups[-1].append(svc)
        else:
            groups.append([svc])
    return groups


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on the port, if one can be seen."""
    try:
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                return conn.pid
    except (psutil.Error, OSError):
        pass
    return None


def port_owner(port: int, host: str = "127.0.0.1") -> str | None:
    """Who listens on the port, or None when it is free."""
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex((host, port)) != 0:
            return None
    pid = listening_pid(port)
    try:
        return f"pid {pid} ({' '.join(psutil.Process(pid).cmdline()[:4])})" if pid else "another process"
    except psutil.Error:
        return "another process"


def all_parts(settings: Settings | None = None) -> list[Part]:
    return [Part(p, settings) for p in PARTS]

