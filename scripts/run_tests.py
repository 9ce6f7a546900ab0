"""`make test`: every ring of every part, each part in its own pytest process (the parts reuse module names
such as `order_service`), brokers included; ends with one combined 'N passed, N failed' line.

Extra pytest arguments come from PYTEST_ARGS (e.g. PYTEST_ARGS="-m unit" make test).
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUPS = [
    ("common + static checks", ["common/tests", "tests"]),
    ("sync-rest", ["sync-rest/tests"]),
    ("async-rabbitmq", ["async-rabbitmq/tests"]),
    ("streaming-kafka", ["streaming-kafka/tests"]),
]


def down() -> None:
    subprocess.run([sys.executable, "-m", "common.runtime", "down"], cwd=ROOT, stdout=subprocess.DEVNULL)


def main() -> int:
    results = ROOT / ".run" / "test-results"
    results.mkdir(parents=True, exist_ok=True)
    extra = shlex.split(os.environ.get("PYTEST_ARGS", ""))
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    codes = []
    t0 = time.monotonic()
    down()
    for name, paths in GROUPS:
        paths = [p for p in paths if (ROOT / p).exists()]
        if not paths:
            continue
        xml = results / f"{name.split()[0]}.xml"
        print(f"\n===== {name}: pytest {' '.join(paths)} =====", flush=True)
        code = subprocess.call([sys.executable, "-m", "pytest", *paths, f"--junitxml={xml}", *extra], cwd=ROOT)
        down()  # no stack outlives its group, whatever happened
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
