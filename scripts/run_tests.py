"""`make test`: every ring of every part, each part in its own pytest process (the parts reuse module names
such as `order_service`), brokers included; ends with one combined 'N passed, N failed' line.

Then the docker ring, one group per part (STACK_RUNTIME=docker): the part's scenario module against its compose
stack on a real engine, and `<part>/tests/docker/` (what only Docker shows). Where no engine can be had, those
tests are reported as skipped with the reason.

Extra pytest arguments come from PYTEST_ARGS (e.g. PYTEST_ARGS="-m unit" make test).
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NATIVE, DOCKER = {"STACK_RUNTIME": "native"}, {"STACK_RUNTIME": "docker"}
SCENARIOS = {"sync-rest": "test_sync.py", "async-rabbitmq": "test_async.py", "streaming-kafka": "test_streaming.py"}
GROUPS = [
    ("common + static checks", ["common/tests", "tests"], NATIVE),
    ("sync-rest", ["sync-rest/tests"], NATIVE),
    ("async-rabbitmq", ["async-rabbitmq/tests"], NATIVE),
    ("streaming-kafka", ["streaming-kafka/tests"], NATIVE),
] + [(f"docker-{part} ring", [f"{part}/tests/{module}", f"{part}/tests/docker"], DOCKER)
     for part, module in SCENARIOS.items()]


def down() -> None:
    subprocess.run([sys.executable, "-m", "common.runtime", "down"], cwd=ROOT, stdout=subprocess.DEVNULL)


def docker_down(paths: list[str]) -> None:
    """No compose stack outlives its docker group either (the fixture removes it; this covers a crash)."""
    part = paths[0].split("/")[0]
    if shutil.which("docker"):
        subprocess.run(["docker", "compose", "--profile", "*", "down", "-v", "--remove-orphans"], cwd=ROOT / part,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    results = ROOT / ".run" / "test-results"
    results.mkdir(parents=True, exist_ok=True)
    extra = shlex.split(os.environ.get("PYTEST_ARGS", ""))
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    codes = []
    t0 = time.monotonic()
    down()
    for name, paths, env in GROUPS:
        paths = [p for p in paths if (ROOT / p).exists()]
        if not paths:
            continue
        xml = results / f"{name.split()[0]}.xml"
        print(f"\n===== {name}: {' '.join(f'{k}={v}' for k, v in env.items())} pytest {' '.join(paths)} =====",
              flush=True)
        g0 = time.monotonic()
        code = subprocess.call([sys.executable, "-m", "pytest", *paths, f"--junitxml={xml}", *extra], cwd=ROOT,
                               env=os.environ | env)
        down()  # no stack outlives its group, whatever happened
        if env is DOCKER:
            docker_down(paths)
        print(f"===== {name}: {time.monotonic() - g0:.0f}s", flush=True)
        if code == 5:  # no tests collected (e.g. filtered out by -m): not a failure
            continue
        codes.append(code)
        if xml.exists():
            suite = ET.parse(xml).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            tests, fails = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            totals["passed"] += tests - fails - skipped
            totals["failed"] += fails
            totals["skipped"] += skipped
        elif code != 0:
            totals["failed"] += 1
    print(f"\nall groups finished in {time.monotonic() - t0:.0f}s")
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 0 if all(c == 0 for c in codes) and totals["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
