"""The lab's compose stacks as the native runtime sees them (`make ps`, a port clash): read with `docker ps`
(no compose plugin needed), only when an engine answers within a few seconds, else nothing."""
from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

PREFIX = "foodlab-"  # every compose project of the lab: foodlab-<part>, and foodlab-test-<part> for the tests
TEST_PREFIX = "foodlab-test-"
_FORMAT = "\t".join(('{{.Label "com.docker.compose.project"}}', '{{.Label "com.docker.compose.service"}}',
                     "{{.State}}", "{{.Status}}", "{{.Ports}}"))


@dataclass
class Container:
    project: str
    service: str
    state: str
    status: str
    ports: str

    @property
    def published(self) -> set[int]:
        """The host ports it publishes (`127.0.0.1:6002->6002/tcp, ...`)."""
        return {int(p) for p in re.findall(r":(\d+)->", self.ports)}


def part_of(project: str) -> str:
    return project.removeprefix(TEST_PREFIX).removeprefix(PREFIX)


def containers(run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
               timeout: float = 3.0) -> list[Container]:
    """The running containers of the lab's compose projects; none when there is no docker or no engine answers."""
    try:
        out = run(["docker", "ps", "--filter", "label=com.docker.compose.project", "--format", _FORMAT],
                  capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    found = [Container(*(line.split("\t") + [""] * 5)[:5]) for line in out.stdout.splitlines() if line.strip()]
    return sorted((c for c in found if c.project.startswith(PREFIX)), key=lambda c: (c.project, c.service))


def freeing_command(project: str) -> str:
    """What frees the ports of a compose stack of the lab."""
    part = part_of(project)
    if project.startswith(TEST_PREFIX):  # left by a test session that did not finish
        return f"`docker/compose.sh {part} -p {project} down -v` (a test session's stack)"
    return f"`make docker-down PART={part}`"


def port_holder(port: int, found: list[Container] | None = None) -> str | None:
    """The compose stack that publishes the port, said with the command that frees it; None when none does."""
    for c in containers() if found is None else found:
        if port in c.published:
            return f"the compose stack {c.project} ({c.service} publishes it; {freeing_command(c.project)} frees it)"
    return None
