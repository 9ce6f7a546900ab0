"""`make observe PART=<part>`: Debian's Prometheus, on loopback, scraping the running part's services (and, for
Part B, RabbitMQ's own rabbitmq_prometheus plugin), so that PromQL works on the lab (docs/observability.md).

The configuration is written as JSON (which is YAML) to `.run/observe/<part>/prometheus.yml`, its data beside it;
Prometheus runs in the foreground until Ctrl-C.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from common.settings import Settings, get_settings

from .runtime.spec import PARTS, load_services

SCRAPE_INTERVAL = "5s"


def targets(part: str, settings: Settings) -> dict[str, list[str]]:
    """job -> host:port of each HTTP service of the part (not the brokers, not the profile-only ones), and Part B's
    nodes' rabbitmq_prometheus plugin."""
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host
    jobs: dict[str, list[str]] = {}
    for service in load_services(part, settings):
        if service.health_url and service.port and service.profile is None:
            jobs[service.name] = [f"{host}:{service.port}"]
    if part == "async-rabbitmq":
        from async_rabbitmq.lab.broker.native import prometheus_port
        from async_rabbitmq.messaging.nodes import nodes

        jobs["rabbitmq"] = [f"127.0.0.1:{prometheus_port(settings, node)}" for node in nodes(settings)]
    return jobs


def config(part: str, settings: Settings) -> dict:
    """Prometheus's configuration: one job per service, labelled with the part."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "scrape_timeout": "4s",
             "static_configs": [{"targets": hosts, "labels": {"part": part}}]}
            for job, hosts in targets(part, settings).items()
        ],
    }


def write_config(part: str, settings: Settings) -> Path:
    folder = settings.run_dir / "observe" / part
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "prometheus.yml"
    path.write_text(json.dumps(config(part, settings), indent=2) + "\n")
    return path


def ensure_prometheus() -> str:
    """The path of Debian's `prometheus`, installed when missing (root only; its system service is not started)."""
    found = shutil.which("prometheus")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("prometheus is not installed; run as root once, or: sudo apt-get install -y prometheus")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}  # RUNLEVEL=1: no service started
    wait = ["-o", "DPkg::Lock::Timeout=600"]
    for cmd in (["apt-get", *wait, "update", "-qq"],
                ["apt-get", *wait, "install", "-y", "-qq", "--no-install-recommends", "prometheus"]):
        if subprocess.run(cmd, env=env, check=False).returncode != 0:
            raise SystemExit(f"`{' '.join(cmd)}` failed; install prometheus by hand and retry")
    return shutil.which("prometheus") or "/usr/bin/prometheus"


def argv(binary: str, config_path: Path, settings: Settings) -> list[str]:
    return [binary, f"--config.file={config_path}", f"--storage.tsdb.path={config_path.parent / 'data'}",
            f"--web.listen-address=127.0.0.1:{settings.prometheus_port}", "--storage.tsdb.retention.time=1d"]


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make observe", description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=PARTS)
    parser.add_argument("--config-only", action="store_true", help="write the configuration and print its path")
    ns = parser.parse_args(args)
    settings = get_settings()
    path = write_config(ns.part, settings)
    if ns.config_only:
        print(path)
        return 0
    from .runtime.control import Part

    if not Part(ns.part, settings).running_services():
        print(f"note: {ns.part} is not running natively (`make up PART={ns.part}`); Prometheus will show its "
              "targets down until it is", file=sys.stderr)
    binary = ensure_prometheus()
    print(f"Prometheus on http://127.0.0.1:{settings.prometheus_port}/ scraping {ns.part} every {SCRAPE_INTERVAL} "
          f"(configuration {path}); Ctrl-C stops it", flush=True)
    try:
        return subprocess.run(argv(binary, path, settings), check=False).returncode
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
