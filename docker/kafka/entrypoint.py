#!/usr/bin/python3
"""Entrypoint of the local Kafka image: the official apache/kafka image's environment contract, in one file.

Every `KAFKA_*` variable except the JVM/logging ones becomes a line of server.properties (drop the prefix,
lowercase, then `___` -> `-`, `__` -> `_`, `_` -> `.`); the KRaft storage is formatted once with `CLUSTER_ID`;
then the broker JVM replaces this process. `properties_from_env` is pure so it is unit-tested without Docker.
Standard library only: docker/images.sh copies this file into the image's build context as `entrypoint.py`.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

LIBS = "/opt/kafka/libs/*"
CONFIG_DIR = Path("/opt/kafka/config")
# apache/kafka's own default when CLUSTER_ID is not given (its docker scripts use this fixed id too).
DEFAULT_CLUSTER_ID = "5L6g3nShT-eMCtK--X86sw"
# Read by the launcher, not the broker (the same list the official image leaves out of server.properties).
NOT_PROPERTIES = {"KAFKA_VERSION", "KAFKA_LOG4J_ROOT_LOGLEVEL", "KAFKA_LOG4J_LOGGERS",
                  "KAFKA_TOOLS_LOG4J_LOGLEVEL", "KAFKA_JMX_HOSTNAME"}
# With no KAFKA_* setting at all: one combined broker/controller, as `docker run apache/kafka` gives.
DEFAULTS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "listeners": "PLAINTEXT://:9092,CONTROLLER://:9093",
    "advertised.listeners": "PLAINTEXT://localhost:9092",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "controller.quorum.voters": "1@localhost:9093",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "log.dirs": "/var/lib/kafka/data",
}
JVM_DEFAULTS = {
    "KAFKA_HEAP_OPTS": "-Xmx1G -Xms1G",
    "KAFKA_JVM_PERFORMANCE_OPTS": "-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 "
                                  "-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent "
                                  "-Djava.awt.headless=true",
}


def property_name(variable: str) -> str:
    """KAFKA_LISTENER_SECURITY_PROTOCOL_MAP -> listener.security.protocol.map; `__` -> `_`, `___` -> `-`."""
    name = variable.removeprefix("KAFKA_").lower()
    return re.sub(r"___|__|_", lambda m: {"___": "-", "__": "_", "_": "."}[m.group()], name)


def properties_from_env(env: dict[str, str]) -> dict[str, str]:
    """server.properties entries from the environment; the defaults only when no KAFKA_* setting is given."""
    given = {property_name(k): v for k, v in env.items()
             if k.startswith("KAFKA_") and not k.endswith("_OPTS") and k not in NOT_PROPERTIES}
    return dict(sorted(given.items())) if given else dict(DEFAULTS)


def render(props: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in props.items())


def java(main: str, *args: str, env: dict[str, str]) -> list[str]:
    """The JVM command line `kafka-run-class.sh` would build from the *_OPTS variables."""
    opts = []
    for var in ("KAFKA_HEAP_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_JMX_OPTS",
                "KAFKA_LOG4J_OPTS", "KAFKA_OPTS"):
        opts += env.get(var, JVM_DEFAULTS.get(var, "")).split()
    if "KAFKA_LOG4J_OPTS" not in env:
        opts.append(f"-Dlog4j.configuration=file:{CONFIG_DIR}/log4j.properties")
    return ["java", *opts, "-cp", LIBS, main, *args]


def main() -> None:
    env = dict(os.environ)
    props = properties_from_env(env)
    config = CONFIG_DIR / "server.properties"
    config.write_text(render(props))
    log_dirs = props.get("log.dirs") or props.get("log.dir", "/tmp/kafka-logs")
    if not all((Path(d) / "meta.properties").exists() for d in log_dirs.split(",")):
        # Formatting costs a JVM start: only on an empty volume (--ignore-formatted covers a partial one).
        tool_env = {**env, "KAFKA_HEAP_OPTS": "-Xmx256m"}
        subprocess.run(java("kafka.tools.StorageTool", "format", "-t", env.get("CLUSTER_ID", DEFAULT_CLUSTER_ID),
                            "-c", str(config), "--ignore-formatted", env=tool_env), check=True)
    argv = java("kafka.Kafka", str(config), env=env) if len(sys.argv) == 1 else sys.argv[1:]
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
