"""`make docker-demo [PART=<part>]`: each part's scenario script once under Docker, as `make demo` does natively:
engine and images ready (docker/compose.sh; local images where the official ones cannot be pulled), the part's
compose stack from empty volumes, its scenario script with `--runtime docker`, `down -v`. The evidence lands
beside the native evidence, in `<part>/tests/docker/` (its header names the runtime); Part C's analytics
container writes its metrics file there too. Leaves nothing running. QUICK=1: the pytest scale (a first look).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from common.errors import StackError
from common.settings import ROOT
from labkit.stack import DockerStack, project

STEPS = {
    "sync-rest": ["-m", "sync_rest.lab.evidence"],
    "async-rabbitmq": ["-m", "async_rabbitmq.lab.evidence"],
    "streaming-kafka": ["-m", "streaming_kafka.lab.evidence"],
}
EVIDENCE = "tests/docker"
QUICK = {"async-rabbitmq": ["--small"], "streaming-kafka": ["--quick"]}  # QUICK=1: the test scale


def image_env() -> dict[str, str]:
    """The image variables this machine needs (docker/compose.sh env), local images built when they are used."""
    out = subprocess.run([str(ROOT / "docker" / "compose.sh"), "env"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"no Docker engine: {out.stderr.strip()}")
    env = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    if env:
        subprocess.run([str(ROOT / "docker" / "images.sh")], cwd=ROOT, check=True)
    return env


def users_stack(part: str, run=None) -> bool:
    """The part's own compose project (a user's `make docker-up`) has containers or volumes: the demo, which
    starts from empty volumes and removes them afterwards, would destroy them."""
    run = run or subprocess.run  # looked up at the call: tests replace it
    label = f"label=com.docker.compose.project={project(part)}"
    for what in (["ps", "-a", "-q"], ["volume", "ls", "-q"]):
        out = run(["docker", *what, "--filter", label], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return True
    return False


def main() -> int:
    parts = [os.environ["PART"]] if os.environ.get("PART") else list(STEPS)
    t0 = time.monotonic()
    images = image_env()  # the engine is up from here
    kept = [p for p in parts if users_stack(p)]
    if kept:  # down -v is the demo's first and last step: never on a stack it did not create
        print(f"make docker-demo starts each part from empty volumes and removes them afterwards; "
              f"{', '.join(project(p) for p in kept)} has containers or volumes of its own: "
              f"`make docker-down PART=<part> VOLUMES=1` first (that removes its data)", file=sys.stderr)
        return 2
    failed = []
    for part in parts:
        out_dir = ROOT / part / EVIDENCE
        out_dir.mkdir(parents=True, exist_ok=True)
        env = images | ({"METRICS_HOST_DIR": str(out_dir)} if part == "streaming-kafka" else {})
        stack = DockerStack(part, admin=True, env=env)
        print(f"\n=== {part}: docker compose up from empty volumes ({stack.describe()})", flush=True)
        try:
            stack.down()
            stack.up()
            quick = QUICK.get(part, []) if os.environ.get("QUICK") == "1" else []
            code = subprocess.call([sys.executable, *STEPS[part], "--runtime", "docker", *quick], cwd=ROOT,
                                   env=os.environ | env | {"ADMIN_API": "true"})
        except (subprocess.CalledProcessError, StackError) as err:
            print(err, file=sys.stderr)
            code = 1
        finally:
            stack.down()
        if code:
            failed.append(part)
        print(f"--- {part}: {'ok' if code == 0 else f'FAILED (exit {code})'} at {time.monotonic() - t0:.0f}s; "
              f"evidence in {out_dir.relative_to(ROOT)}/", flush=True)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
