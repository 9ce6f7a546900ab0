"""`make test`: every ring of every part in one pytest process, brokers included; ends with pytest's own
'N passed, N failed' line and the wall time.

The rings are markers and folders (see pytest.ini): unit, service, integration (native stacks, brokers included),
the scenario ring (`<part>/tests/test_<part>.py`, natively and, marked `docker`, against the part's compose stack)
and the docker ring (`<part>/tests/docker/`, `tests/docker/`; its `*_cluster.py` tests run each part's failover on
the part's compose cluster). common.testing starts one stack at a time and runs
each part's docker-marked tests last. Where no Docker engine can be had, the docker tests are reported as skipped
with the reason.

Extra pytest arguments come from PYTEST_ARGS (e.g. PYTEST_ARGS="-m unit" make test, or -m "not docker").
Then a second pass runs Part C's scenario ring, chaos rounds and consumer fuzzing natively again under the other
Kafka client (`KAFKA_CLIENT=confluent`), when the first pass's marker expression selects integration tests.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time

from _pytest.mark.expression import Expression

from common.runtime.spec import PARTS
from common.settings import ROOT
from common.stack import CLUSTER_FILE


def down() -> None:
    """No native stack outlives the run, whatever happened (the fixtures stop theirs; this covers a crash)."""
    subprocess.run([sys.executable, "-m", "common.runtime", "down"], cwd=ROOT, stdout=subprocess.DEVNULL)


def docker_down() -> None:
    """No compose stack outlives the run either (a part's cluster file too, so its brokers' volumes go with it)."""
    if not shutil.which("docker"):
        return
    for part in PARTS:
        files = [a for f in ("docker-compose.yml", CLUSTER_FILE) if (ROOT / part / f).exists() for a in ("-f", f)]
        subprocess.run(["docker", "compose", *files, "--profile", "*", "down", "-v", "--remove-orphans"],
                       cwd=ROOT / part, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# Run again under confluent-kafka: the rings that load Part C's consumers hardest, at test scale.
SECOND_CLIENT = "confluent"
SECOND_PASS = ["streaming-kafka/tests/test_streaming.py", "streaming-kafka/tests/test_chaos.py",
               "streaming-kafka/tests/integration/test_consumer_fuzz.py"]


def selects_integration(extra: list[str]) -> bool:
    """Whether PYTEST_ARGS' `-m` expression (none: everything) keeps a test marked `integration` only."""
    marks = [extra[i + 1] for i, a in enumerate(extra[:-1]) if a == "-m"]
    return all(Expression.compile(m).evaluate(lambda name: name == "integration") for m in marks)


def second_pass(results, env: dict[str, str]) -> int:
    t0 = time.monotonic()
    down()
    try:
        code = subprocess.call([sys.executable, "-m", "pytest", f"--junitxml={results / 'confluent.xml'}",
                                "-m", "integration and not docker", *SECOND_PASS],
                               cwd=ROOT, env=env | {"KAFKA_CLIENT": SECOND_CLIENT})
    finally:
        down()
    print(f"\nPart C under KAFKA_CLIENT={SECOND_CLIENT}: {time.monotonic() - t0:.0f}s (pytest exit code {code})")
    return code


def main() -> int:
    results = ROOT / ".run" / "test-results"
    results.mkdir(parents=True, exist_ok=True)
    extra = shlex.split(os.environ.get("PYTEST_ARGS", ""))
    # The scenario scripts' own runtime detection is off: the tests choose native or docker themselves.
    env = os.environ | {"STACK_RUNTIME": "native"}
    t0 = time.monotonic()
    down()
    try:
        code = subprocess.call([sys.executable, "-m", "pytest", f"--junitxml={results / 'all.xml'}", *extra],
                               cwd=ROOT, env=env)
    finally:
        down()
        if "not docker" not in " ".join(extra):
            docker_down()
    paths = [a for a in extra if not a.startswith("-") and (ROOT / a.split("::")[0]).exists()]
    if env.get("KAFKA_CLIENT") != SECOND_CLIENT and selects_integration(extra) and not paths:
        second = second_pass(results, env)
        code = code if second in (0, 5) else second
    print(f"\nmake test finished in {time.monotonic() - t0:.0f}s (pytest exit code {code})")
    return 0 if code in (0, 5) else code  # 5: no tests selected (e.g. filtered out by -m): not a failure


if __name__ == "__main__":
    sys.exit(main())
