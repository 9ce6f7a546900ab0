"""What only a running compose stack shows, read from the engine and the host (the docker ring's checks).

Each function returns data about the stack (containers, published ports, listeners, users, events) for the
tests in `<part>/tests/docker/` to assert on.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess

import psutil

from labkit.stack import DockerStack


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=120).stdout


def containers(stack: DockerStack, all_states: bool = False) -> dict[str, dict]:
    """`docker inspect` of the part's containers, by compose service name."""
    ids = _docker("ps", "-q", *(["-a"] if all_states else []), "--filter",
                  f"label=com.docker.compose.project={stack.project}").split()
    if not ids:
        return {}
    return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in json.loads(_docker("inspect", *ids))}


def compose_config(stack: DockerStack) -> dict:
    return json.loads(stack._run("config", "--format", "json", capture=True))


def published(stack: DockerStack) -> dict[str, list[tuple[str, int]]]:
    """(host address, host port) of every published port, by service."""
    out = {}
    for svc, c in containers(stack).items():
        out[svc] = [(b["HostIp"], int(b["HostPort"])) for bindings in (c["NetworkSettings"]["Ports"] or {}).values()
                    for b in bindings or []]
    return out


def listeners(port: int) -> set[str]:
    """The addresses the host listens on for this TCP port (docker-proxy's sockets for a published port)."""
    return {c.laddr.ip for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN
            and c.laddr and c.laddr.port == port}


def host_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback (its LAN side, and the bridges)."""
    return sorted({a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                   if a.family == socket.AF_INET and not a.address.startswith("127.")})


def connects(host: str, port: int, timeout: float = 2.0) -> bool:
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


def process_uids(stack: DockerStack) -> dict[str, tuple[int, int]]:
    """(real, effective) uid of each running container's main process, read from the host's /proc."""
    out = {}
    for svc, c in containers(stack).items():
        pid = c["State"]["Pid"]
        with open(f"/proc/{pid}/status") as fh:
            uid = next(line.split()[1:3] for line in fh if line.startswith("Uid:"))
        out[svc] = (int(uid[0]), int(uid[1]))
    return out


def resolve_from(stack: DockerStack, service: str, names: list[str]) -> dict[str, str]:
    """What `names` resolve to inside `service`'s container (the network's DNS)."""
    code = "import json, socket, sys; print(json.dumps({n: socket.gethostbyname(n) for n in sys.argv[1:]}))"
    return json.loads(stack._run("exec", "-T", service, "python", "-c", code, *names, capture=True))


# Run inside a service container: every module of the packages named first (their `__main__`s aside), then
# whether each lab package imports. {"failed": {module: error}, "imported": [...], "lab": {package: outcome}}
_IMPORTS = """
import importlib, json, pkgutil, sys
packages, lab = sys.argv[1].split(","), sys.argv[2].split(",")
failed, imported, outcome = {}, [], {}
for pkg in packages:
    names = [pkg] + [m.name for m in pkgutil.walk_packages(importlib.import_module(pkg).__path__, pkg + ".")]
    for name in names:
        if name.endswith("__main__"):
            continue
        try:
            importlib.import_module(name)
            imported.append(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
for name in lab:
    try:
        importlib.import_module(name)
        outcome[name] = "imported"
    except ModuleNotFoundError as exc:
        outcome[name] = f"ModuleNotFoundError: {exc.name}"
print(json.dumps({"failed": failed, "imported": imported, "lab": outcome}))
"""


def imports(stack: DockerStack, service: str, packages: list[str], lab: list[str]) -> dict:
    """Inside `service`'s container: import every module of `packages` (the services and the kernel) and try each
    of `lab` (which the service image must not hold)."""
    return json.loads(stack._run("exec", "-T", service, "python", "-c", _IMPORTS, ",".join(packages), ",".join(lab),
                                 capture=True))


def addresses(stack: DockerStack) -> dict[str, set[str]]:
    """Each container's addresses on its compose networks."""
    return {svc: {n["IPAddress"] for n in c["NetworkSettings"]["Networks"].values()}
            for svc, c in containers(stack).items()}


def health_gates(stack: DockerStack, events: list[dict]) -> list[dict]:
    """For each `depends_on: condition: service_healthy`, when the dependency first reported healthy and when
    the dependent container started (nanoseconds, from the engine's events of one `up`)."""
    first: dict[tuple[str, str], int] = {}
    for e in events:
        svc = e.get("Actor", {}).get("Attributes", {}).get("com.docker.compose.service")
        action = e.get("Action") or e.get("status", "")
        key = (svc, "healthy" if action == "health_status: healthy" else action)
        if svc and key not in first:
            first[key] = int(e["timeNano"])
    gates = []
    for svc, cfg in compose_config(stack)["services"].items():
        for dep, how in (cfg.get("depends_on") or {}).items():
            if how.get("condition") == "service_healthy":
                gates.append({"service": svc, "depends_on": dep, "dep_healthy_ns": first.get((dep, "healthy")),
                              "started_ns": first.get((svc, "start"))})
    return gates


def mapped(stack: DockerStack, service: str, fragment: str) -> set[str]:
    """The files whose path holds `fragment` that a process of `service`'s container has mapped (its shared
    libraries: librdkafka once confluent-kafka is in use), read from the host's /proc; every process of the
    container counts (gunicorn's workers, the process a wrapper starts)."""
    pid = stack.pid(service)
    assert pid, f"{service} is not running"
    root = psutil.Process(pid)
    found = set()
    for proc in [root, *root.children(recursive=True)]:
        try:
            found |= {m.path for m in proc.memory_maps() if fragment in m.path}
        except psutil.NoSuchProcess:
            continue
    return found


def volumes(stack: DockerStack) -> list[str]:
    return _docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}").split()


def state(stack: DockerStack, service: str) -> dict:
    c = containers(stack, all_states=True)[service]
    return {"status": c["State"]["Status"], "restarts": c["RestartCount"],
            "policy": c["HostConfig"]["RestartPolicy"]["Name"], "pid": c["State"]["Pid"]}


def crash(stack: DockerStack, service: str) -> int:
    """SIGKILL the container's main process from the host, as a crash would (not through the engine)."""
    pid = stack.pid(service)
    assert pid, f"{service} is not running"
    os.kill(pid, 9)
    return pid
