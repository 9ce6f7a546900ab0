"""The one small interface scenario scripts use to start and break a part, natively or with Docker Compose.

`get_stack(part)` picks the runtime: `STACK_RUNTIME` (or `--runtime`) forces `native` or `docker`; by default
(`auto`) a running compose stack of the part is driven with `docker compose` in the part's folder, else the
native runtime. It says which one it chose and why.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import psutil
import requests

from common.errors import StackError
from common.faults import without_faults
from common.settings import ROOT, Settings, get_settings

# The inventory service of each part: scenario scripts reset its stock through the admin API.
INVENTORY = {"sync-rest": "inventory-service", "async-rabbitmq": "inventory-service",
             "streaming-kafka": "inventory-consumer"}


class Stack(Protocol):
    part: str
    runtime: str
    settings: Settings  # how a client reaches this stack (ports, URLs, broker credentials)

    def up(self) -> None: ...
    def ensure_up(self) -> None: ...
    def down(self) -> None: ...
    def stop(self, service: str) -> None: ...
    def start(self, service: str, env: dict[str, str] | None = None) -> None: ...
    def kill(self, service: str) -> None: ...
    def pid(self, service: str) -> int | None: ...
    def logs(self, service: str, lines: int = 40) -> str: ...
    def describe(self) -> str: ...
    def admin_api(self) -> AbstractContextManager[None]: ...


class _Admin:
    """`admin=True`: every service this stack starts gets ADMIN_API=true (scenario scripts and tests ask for it;
    a user's `make up` / `docker compose up` leaves it off)."""

    part: str
    settings: Settings
    admin: bool

    def _admin_env(self) -> dict[str, str]:
        return {"ADMIN_API": "true"} if self.admin else {}

    def _admin_on(self) -> bool:
        try:
            return requests.get(f"{self.settings.inventory_url.rstrip('/')}/admin/status", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    @contextmanager
    def admin_api(self) -> Iterator[None]:
        """The admin API on for the duration of the block. When the inventory service runs without it (a user's
        stack), it is restarted with ADMIN_API=true, and restarted again with ADMIN_API=false on the way out,
        whatever happened in the block: a script never leaves the admin API on a stack that had it off."""
        if self._admin_on():
            yield
            return
        if not self.admin:
            raise RuntimeError("the admin API is off; create the stack with admin=True to turn it on")
        self.start(INVENTORY[self.part])
        try:
            yield
        finally:
            self.start(INVENTORY[self.part], env={"ADMIN_API": "false"})  # the user's setting, as it was


class NativeStack(_Admin):
    runtime = "native"

    def __init__(self, part: str, settings: Settings | None = None, quiet: bool = True, admin: bool = False):
        from labkit.runtime.control import Part

        self.part = part
        self.settings = settings or get_settings()
        self.admin = admin
        self._part = Part(part, self.settings)
        self._say = (lambda *_: None) if quiet else print
        self._up_report: str | None = None  # what ensure_up() found running and what it started

    def up(self) -> None:
        self._part.up(env=dict(os.environ) | self._admin_env(), progress=self._say)

    def ensure_up(self) -> None:
        """The whole part, as `make up` brings it up: what runs is kept, the rest started (all or nothing)."""
        before = set(self._part.running_services())
        self.up()
        running = self._part.running_services()
        self._up_report = _up_report([s for s in running if s not in before], [s for s in running if s in before])

    def down(self) -> None:
        self._part.down(progress=self._say)

    def stop(self, service: str) -> None:
        self._part.stop(service, progress=self._say)

    def start(self, service: str, env: dict[str, str] | None = None) -> None:
        # Faults are switched by the environment at start: off unless passed here.
        self._part.start(service, env=without_faults(os.environ) | self._admin_env() | (env or {}),
                         progress=self._say)

    def kill(self, service: str) -> None:
        self._part.kill(service, signal.SIGKILL)

    def pid(self, service: str) -> int | None:
        return self._part.pid(service)

    def logs(self, service: str, lines: int = 40) -> str:
        return self._part.tail(service, lines)

    def describe(self) -> str:
        """What runs now (and, after ensure_up, what this run started and what it found running)."""
        running = self._part.running_services()
        missing = [s.name for s in self._part.services if not s.profile and s.name not in running]
        text = f"native processes under supervisord (make up): {', '.join(running) or 'no service'} running"
        text += f"; NOT running: {', '.join(missing)}" if missing else ""
        return text + (f" ({self._up_report})" if self._up_report else "")


def _up_report(started: list[str], found: list[str]) -> str:
    return f"started by this run: {', '.join(started) or 'none'}; found running: {', '.join(found) or 'none'}"


# ------------------------------------------------------------------------------------------------ Docker
# What the compose files publish (host side) and their local RabbitMQ account: the client side of a compose stack.
COMPOSE_PORTS = {"order_port": 6000, "inventory_port": 6001, "notification_port": 6002, "rabbitmq_port": 5672,
                 "rabbitmq_mgmt_port": 15672}
COMPOSE_RABBITMQ_USER, COMPOSE_RABBITMQ_PASSWORD = "foodlab", "foodlab-local"
# The extra compose file of a part's three-broker cluster (Parts B and C), and its brokers seen from the host:
# node i publishes AMQP 5672 + 10(i-1) and management 15672 + 10(i-1) (Part B), Kafka 29092 + 2(i-1) (Part C).
CLUSTER_FILE = "docker-compose.cluster.yml"
COMPOSE_CLUSTER = {
    "cluster_size": 3,
    "rabbitmq_nodes": ",".join(f"rabbit@{svc}=127.0.0.1:{5672 + 10 * i}:{15672 + 10 * i}"
                               for i, svc in enumerate(("rabbitmq", "rabbitmq-2", "rabbitmq-3"))),
    "kafka_bootstrap": ",".join(f"127.0.0.1:{29092 + 2 * i}" for i in range(3)),
}


# The compose cluster's Erlang cookie when the user sets none: made once, owner-only from its first byte, and read
# by docker/compose.sh too, so `make docker-up` and the tests' stacks share one secret and a cluster restarts.
COMPOSE_COOKIE_FILE = ROOT / ".run" / "compose" / "rabbitmq-cluster.cookie"


def cluster_secrets(part: str, environ=None) -> dict[str, str]:
    """What a part's cluster file needs from the environment: Part B's Erlang cookie (the user's
    RABBITMQ_ERLANG_COOKIE, else the one kept in COMPOSE_COOKIE_FILE). The file has no default for it on purpose."""
    if part != "async-rabbitmq":
        return {}
    environ = os.environ if environ is None else environ
    if environ.get("RABBITMQ_ERLANG_COOKIE"):
        return {"RABBITMQ_ERLANG_COOKIE": environ["RABBITMQ_ERLANG_COOKIE"]}
    import secrets

    from labkit.runtime.safefs import ensure_secret, private_dir

    private_dir(COMPOSE_COOKIE_FILE.parent)
    return {"RABBITMQ_ERLANG_COOKIE": ensure_secret(COMPOSE_COOKIE_FILE, lambda: secrets.token_hex(20))}


def project(part: str) -> str:
    """The compose project name (`name:` in the part's docker-compose.yml)."""
    return f"foodlab-{part}"


def docker_client_settings(settings: Settings, cluster: bool = False) -> Settings:
    """`settings` as a client of a compose stack: the published ports on 127.0.0.1, and the RabbitMQ account the
    compose file creates (RABBITMQ_USER / RABBITMQ_PASSWORD when set, as compose reads them too). `cluster`: of
    the stack with the part's cluster file, whose every broker the client knows."""
    host = "127.0.0.1"
    update: dict = dict(COMPOSE_PORTS, bind_host=host, rabbitmq_host=host, kafka_bootstrap=f"{host}:29092",
                        order_url=f"http://{host}:6000", inventory_url=f"http://{host}:6001",
                        notification_url=f"http://{host}:6002", cluster_size=1, rabbitmq_nodes="")
    if cluster:
        update |= COMPOSE_CLUSTER
    if "rabbitmq_user" not in settings.model_fields_set:
        update["rabbitmq_user"] = COMPOSE_RABBITMQ_USER
    if "rabbitmq_password" not in settings.model_fields_set:
        update["rabbitmq_password"] = COMPOSE_RABBITMQ_PASSWORD
    return settings.model_copy(update=update)


# The image variables the compose files and the Dockerfile read, with their defaults (the official images).
OFFICIAL_IMAGES = {"PYTHON_BASE_IMAGE": "python:3.11-slim-bookworm", "RABBITMQ_IMAGE": "rabbitmq:3.13.7-management",
                   "KAFKA_IMAGE": "apache/kafka:3.9.1"}
OFFLINE_ENV = ROOT / "docker" / "offline.env"


def read_env_file(path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip('"')
    return env


def _has_image(name: str) -> bool:
    try:
        return subprocess.run(["docker", "image", "inspect", name], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def image_env(environ=None) -> dict[str, str]:
    """The image variables for compose: the caller's when set; else nothing (the official default) unless the
    engine lacks the official image and has the local stand-in of docker/offline.env (`make docker-images`)."""
    environ = os.environ if environ is None else environ
    offline = read_env_file(OFFLINE_ENV)
    out = {}
    for key, official in OFFICIAL_IMAGES.items():
        if key in environ:
            out[key] = environ[key]
        elif key in offline and not _has_image(official) and _has_image(offline[key]):
            out[key] = offline[key]
    return out


def compose_running(part: str, timeout: float = 10.0) -> bool:
    """A container of this part's compose project is running (False when there is no docker or no engine)."""
    if not shutil.which("docker"):
        return False
    try:
        out = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project(part)}"],
                             capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and bool(out.stdout.strip())


class ComposeError(StackError):
    """A compose command failed (no engine, no compose plugin, a service that did not become healthy)."""


class DockerStack(_Admin):
    """`docker compose` in the part's folder. `env` is added to every compose command's environment; by default
    the image variables of `image_env()` (the offline stand-ins on a machine that cannot pull). `cluster`: with
    the part's cluster file over its compose file (three brokers; same project, so one replaces the other).
    `project_name`: another compose project than the part's own (the tests' `foodlab-test-<part>`, whose
    `down -v` can never reach a user's volumes)."""

    runtime = "docker"

    def __init__(self, part: str, settings: Settings | None = None, admin: bool = False,
                 env: dict[str, str] | None = None, cluster: bool = False, project_name: str | None = None):
        self.part = part
        self.project = project_name or project(part)
        self.cluster = cluster
        self.settings = docker_client_settings(settings or get_settings(), cluster)
        self.admin = admin
        self.env = (image_env() if env is None else dict(env)) | (cluster_secrets(part) if cluster else {})
        self.file = ROOT / part / "docker-compose.yml"
        self.files = [self.file, *([ROOT / part / CLUSTER_FILE] if cluster else [])]
        self._pids: dict[str, tuple[int, float]] = {}  # service -> (pid, create time) seen after its last start
        self._up_report: str | None = None
        # --profile '*': commands that name a service also reach the ones behind a profile (inventory-consumer-2).
        self.base = ["docker", "compose", "--project-directory", str(ROOT / part),
                     *(["--project-name", project_name] if project_name else []),
                     *(arg for f in self.files for arg in ("-f", str(f)))]

    def _run(self, *args: str, env: dict[str, str] | None = None, capture: bool = False,
             profiles: bool = False) -> str:
        full_env = without_faults(os.environ) | self.env | self._admin_env() | (env or {})
        cmd = [*self.base, *(["--profile", "*"] if profiles else []), *args]
        try:
            out = subprocess.run(cmd, env=full_env, check=True, text=True,
                                 stdout=subprocess.PIPE if capture else None)
        except (subprocess.CalledProcessError, OSError) as err:  # said in one line by the scripts' exit_status
            raise ComposeError(f"`docker compose {' '.join(args)}` for {self.part} failed ({err}); is a Docker "
                               f"engine with the compose plugin up? `make docker-engine` starts one") from err
        return out.stdout or ""

    def up(self, build: bool = True) -> None:
        """`build=False`: the image as it is (a stack taken down and up again in one session)."""
        self._run("up", "-d", *(["--build"] if build else []), "--wait")

    def running_services(self) -> list[str]:
        return self._run("ps", "--services", "--status", "running", capture=True).split()

    def ensure_up(self) -> None:
        """The whole part, as `make docker-up` brings it up; a stack whose every service runs is left as it is
        (an `up` would recreate the containers whose environment differs)."""
        declared = self._run("config", "--services", capture=True).split()
        before = self.running_services()
        if any(s not in before for s in declared):
            self.up()
        running = self.running_services()
        self._up_report = _up_report([s for s in running if s not in before], [s for s in running if s in before])

    def down(self, volumes: bool = True) -> None:
        self._run("down", "--remove-orphans", *(["-v"] if volumes else []), profiles=True)

    def stop(self, service: str) -> None:
        self._run("stop", service, profiles=True)

    def health_url(self, service: str) -> str | None:
        """Where the host polls a Python service's /health (brokers have none: their healthcheck is waited for)."""
        s = self.settings
        urls = {"order-service": s.order_url, "producer-order": s.order_url, "inventory-service": s.inventory_url,
                "inventory-consumer": s.inventory_url, "inventory-consumer-2": f"http://127.0.0.1:{s.inventory_port + 10}",
                "notification-service": s.notification_url, "analytics-consumer": s.notification_url}
        return urls.get(service)

    def start(self, service: str, env: dict[str, str] | None = None) -> None:
        # Recreate so the new environment (faults on or off) applies, then wait until it is ready: a Python
        # service by polling its /health from the host (ready in about a second, where the engine's first
        # healthcheck comes only after its 5 s interval), a broker by its healthcheck (--wait).
        url = self.health_url(service)
        self._run("up", "-d", "--no-deps", "--force-recreate", *([] if url else ["--wait"]), service, env=env,
                  profiles=True)
        if url:
            wait_healthy(url, timeout=self.settings.health_timeout_s * 2)
        self._pids.pop(service, None)
        self.pid(service)  # remembered for a kill that must come without delay

    def kill(self, service: str) -> None:
        """kill -9, as the native runtime does, at this very moment: the container's processes are frozen from
        the host first (SIGSTOP; the compose command takes a few hundred ms, in which a consumer would drain a
        test-sized backlog), then the engine SIGKILLs them. A kill through the engine marks the container as
        stopped by hand, so the restart policy leaves it down (a SIGKILL from outside the engine would count as a
        crash, and `unless-stopped` would restart it)."""
        pid = self.pid(service)
        if pid:
            try:
                proc = psutil.Process(pid)
                for p in [proc, *proc.children(recursive=True)]:
                    p.send_signal(signal.SIGSTOP)
            except psutil.Error:
                pass
        self._run("kill", "-s", "SIGKILL", service, profiles=True)
        self._pids.pop(service, None)

    def exec(self, service: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """`docker compose exec -T <service> argv...` (a broker's own CLI, e.g. rabbitmqctl): never raises on a
        non-zero exit, the caller reads it."""
        return subprocess.run([*self.base, "exec", "-T", service, *argv], env=without_faults(os.environ) | self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def container(self, service: str) -> str | None:
        return self._run("ps", "-q", "-a", service, capture=True, profiles=True).strip() or None

    def inspect(self, service: str, fmt: str) -> str:
        cid = self.container(service)
        if not cid:
            return ""
        return subprocess.run(["docker", "inspect", "-f", fmt, cid], capture_output=True, text=True,
                              check=True).stdout.strip()

    def pid(self, service: str) -> int | None:
        """The container's main process, as the host sees it (None when it is not running). Remembered from the
        last `start` while that process lives, so a crash scenario reads it without a compose round trip."""
        known = self._pids.get(service)
        if known and psutil.pid_exists(known[0]):
            try:
                if psutil.Process(known[0]).create_time() == known[1]:
                    return known[0]
            except psutil.Error:
                pass
        pid = self.inspect(service, "{{.State.Pid}}")
        if not (pid.isdigit() and int(pid) > 0):
            return None
        try:
            self._pids[service] = (int(pid), psutil.Process(int(pid)).create_time())
        except psutil.Error:
            pass
        return int(pid)

    def logs(self, service: str, lines: int = 40) -> str:
        return self._run("logs", "--no-color", "--no-log-prefix", "--tail", str(lines), service, capture=True,
                         profiles=True)

    def describe(self) -> str:
        used = {"PYTHON_BASE_IMAGE", {"async-rabbitmq": "RABBITMQ_IMAGE", "streaming-kafka": "KAFKA_IMAGE"}.get(self.part)}
        images = ", ".join(f"{k}={v}" for k, v in sorted(self.env.items()) if k in used)
        try:
            engine = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True,
                                    text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            engine = ""
        files = " + ".join(str(f.relative_to(ROOT)) for f in self.files)
        return (f"docker compose ({files}, project {self.project}"
                + (f", engine {engine}" if engine else "") + (f"; {images}" if images else "") + ")"
                + (f" ({self._up_report})" if self._up_report else ""))


def get_stack(part: str, runtime: str | None = None, settings: Settings | None = None, admin: bool = False,
              env: dict[str, str] | None = None, announce=print) -> Stack:
    """The stack to drive: `runtime` (or STACK_RUNTIME) native|docker forces one; auto looks for a running
    compose stack of the part. `announce` is told which runtime was chosen and why."""
    settings = settings or get_settings()
    runtime = runtime or settings.stack_runtime
    if runtime == "auto":
        if compose_running(part):
            runtime, why = "docker", (f"a compose stack of {part} is running (project {project(part)}); "
                                      "STACK_RUNTIME=native forces the native runtime")
        else:
            runtime, why = "native", (f"no compose stack of {part} is running; STACK_RUNTIME=docker forces "
                                      "docker compose")
    else:
        why = "forced by --runtime or STACK_RUNTIME"
    announce(f"[{part}] runtime: {runtime} ({why})")
    if runtime == "docker":
        return DockerStack(part, settings, admin=admin, env=env)
    return NativeStack(part, settings, admin=admin)


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll until predicate() returns a truthy value; return it, or raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)



def run_steps(steps, progress=lambda _m: None, done: str | None = None,
              results: dict | None = None) -> tuple[dict, dict[str, float]]:
    """Run a part's scenarios in order (each part's `run_all`). `steps`: (key, message, fn); `message` (None:
    none) goes to `progress` before the call, `done` (a format with {key} and {seconds}) after it. Returns each
    result and each duration in seconds, by key; `results` is filled as it goes, so a later step may read an
    earlier one's."""
    results = {} if results is None else results
    seconds: dict[str, float] = {}
    for key, message, fn in steps:
        if message:
            progress(message)
        t0 = time.monotonic()
        results[key] = fn()
        seconds[key] = round(time.monotonic() - t0, 1)
        if done:
            progress(done.format(key=key, seconds=seconds[key]))
    return results, seconds

def wait_healthy(url: str, timeout: float = 60.0) -> None:
    def ok():
        try:
            return requests.get(f"{url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False
    wait_for(ok, timeout, what=f"{url}/health")
