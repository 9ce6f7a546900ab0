"""`make test`: every ring of every part in one pytest process, brokers included; ends with pytest's own
'N passed, N failed' line and the wall time.

The rings are markers and folders (see pytest.ini): unit, service, integration (native stacks, brokers included),
the scenario ring (`<part>/tests/test_<part>.py`, natively and, marked `docker`, against the part's compose stack)
and the docker ring (`<part>/tests/docker/`, `tests/docker/`; its `*_cluster.py` tests run each part's failover on
the part's compose cluster). labkit.testing starts one stack at a time and runs the rings that need no engine
first, then the docker-marked ones part by part. Where no Docker engine can be had, the docker tests are reported
as skipped with the reason.

It removes only what tests created: the native parts the test fixtures marked as theirs (`.run/<part>/started-by-
tests`) or that came up during the run, and the tests' own compose projects (`foodlab-test-<part>`, with their
volumes). A user's `make up` or `make docker-up` stack and its data are left alone; the rings that would need its
ports are skipped, with the reason (`make down` / `make docker-down PART=<part>` first to run them).

Extra pytest arguments come from PYTEST_ARGS (e.g. PYTEST_ARGS="-m unit" make test, or -m "not docker").
A second pass runs Part C's scenario ring, chaos rounds and consumer fuzzing natively again under the other
Kafka client (`KAFKA_CLIENT=confluent`), when the first pass's marker expression selects integration tests. It
runs beside the first pass, from the start, on ports and a run directory of its own (SECOND_PASS_PORTS,
`.run/second-pass/`), so neither waits for the other; its output is printed after the first pass's.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time

from _pytest.mark.expression import Expression

from common.settings import ROOT
from labkit.runtime import compose
from labkit.runtime.spec import PARTS
from labkit.stack import CLUSTER_FILE, cluster_secrets


def native_state() -> tuple[set[str], set[str]]:
    """The native parts running now, and those a test fixture marked as the tests'."""
    from common.settings import get_settings
    from labkit.runtime.control import Part
    from labkit.testing import marker

    settings = get_settings()
    running = {p for p in PARTS if Part(p, settings).running_services()}
    return running, {p for p in PARTS if marker(settings, p).exists()}


def native_to_stop(running_before: set[str], running_now: set[str], marked: set[str]) -> list[str]:
    """The tests' native parts: marked as theirs, or come up since `running_before`. A part that was running
    before without the mark is a user's: left alone."""
    return [p for p in PARTS if p in running_now and (p in marked or p not in running_before)]


def stop_native(parts: list[str], env: dict[str, str] | None = None) -> None:
    """`labkit.runtime down` for each part, in the run directory `env` names (RUN_DIR; this process's by default)."""
    for part in parts:
        subprocess.run([sys.executable, "-m", "labkit.runtime", "down", part], cwd=ROOT, stdout=subprocess.DEVNULL,
                       env=env)


def projects_of_tests(run=None) -> list[str]:
    """The tests' compose projects the engine still has (containers or volumes); none without docker or engine."""
    run = run or subprocess.run  # looked up at the call: tests replace it
    found: set[str] = set()
    for what in (["ps", "-a"], ["volume", "ls"]):
        try:
            out = run(["docker", *what, "--filter", "label=com.docker.compose.project", "--format",
                       '{{.Label "com.docker.compose.project"}}'], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return []
        if out.returncode != 0:
            return []
        found |= {line.strip() for line in out.stdout.splitlines() if line.strip().startswith(compose.TEST_PREFIX)}
    return sorted(found)


def docker_down(run=None) -> None:
    """The tests' compose stacks, with their volumes (a part's cluster file too, so its brokers go with it)."""
    run = run or subprocess.run  # looked up at the call: tests replace it
    for proj in projects_of_tests(run):
        part = compose.part_of(proj)
        if part not in PARTS:
            continue
        files = [a for f in ("docker-compose.yml", CLUSTER_FILE) if (ROOT / part / f).exists() for a in ("-f", f)]
        run(["docker", "compose", "-p", proj, *files, "--profile", "*", "down", "-v", "--remove-orphans"],
            cwd=ROOT / part, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=os.environ | cluster_secrets(part))  # the cluster file interpolates them even to take it down


# Run again under confluent-kafka: the scenario ring (replay equals live, scale-out, a crash mid-stream), the
# chaos ring (kills, the broker's included) and the consumer fuzzing (fewer batches: the records' shapes are the
# first pass's, what differs is the client under the consumers), at test scale. The seam's own guarantees under
# both clients are streaming-kafka/tests/integration/test_kafka_clients.py's, in the first pass.
SECOND_CLIENT = "confluent"
SECOND_PASS = ["streaming-kafka/tests/test_streaming.py", "streaming-kafka/tests/test_chaos.py",
               "streaming-kafka/tests/integration/test_consumer_fuzz.py"]
SECOND_PASS_ENV = {"KAFKA_CLIENT": SECOND_CLIENT, "FUZZ_EXAMPLES": "10"}
# How lag grows while the inventory consumer is stopped or throttled is the service's, not the client's: once.
SECOND_PASS_SKIPS = "not lag_grows"
# Where the second pass's Part C listens and keeps its state: apart from the first pass's stacks (the default ports,
# native or published by compose) and from a user's `make up` (.run/), so the two passes run side by side.
SECOND_PASS_PORTS = {"ORDER_PORT": "16000", "INVENTORY_PORT": "16001", "NOTIFICATION_PORT": "16002",
                     "DASHBOARD_PORT": "16003", "PROMETHEUS_PORT": "19090", "KAFKA_BOOTSTRAP": "127.0.0.1:39092",
                     "KAFKA_CONTROLLER_PORT": "39093"}
SECOND_PASS_DIR = ROOT / ".run" / "second-pass"


def selects_marked(extra: list[str], marker: str) -> bool:
    """Whether PYTEST_ARGS' `-m` expression (none: everything) keeps a test marked `marker` only."""
    marks = [extra[i + 1] for i, a in enumerate(extra[:-1]) if a == "-m"]
    return all(Expression.compile(m).evaluate(lambda name: name == marker) for m in marks)


# $1 the images script, $2 the exit file (written atomically), $3... the command that installs chromium (its
# failure is the browser rings' to report, not the engine's).
PREP_LINE = ('"${@:3}" || echo "chromium: not installed (the browser rings say why)"; '
             '"$1"; echo $? > "$2.tmp" && mv "$2.tmp" "$2"')


def start_docker_prep(results, extra: list[str], env: dict[str, str]) -> tuple[dict[str, str], subprocess.Popen | None]:
    """The Docker engine, its compose plugin and the local images take minutes on a fresh machine (a Go build,
    debootstrap): `docker/images.sh` (which starts the engine first) runs in the background while the rings
    that need no engine run; labkit.testing.wait_docker_prep() makes the docker ring wait for it, then the ring
    calls the same scripts, which find everything ready (or say why not). Returns the variable naming the file
    the background run writes its exit code to (nothing when no docker test is selected), and the run. It stays
    in make's process group: Ctrl-C stops it with everything else."""
    script = ROOT / "docker" / "images.sh"
    if not script.exists() or not selects_marked(extra, "docker"):
        return {}, None
    done = results / "docker-prep.exit"
    done.unlink(missing_ok=True)
    log = results / "docker-prep.log"
    with open(log, "wb") as out:
        # Chromium for the browser rings first (an apt install of its own, a minute on a fresh machine; a ring that
        # starts before it is done waits for apt's lock and finds it installed), then the engine and the images.
        chromium = [sys.executable, "-c", "from labkit.browser import find_chromium; find_chromium()"]
        prep = subprocess.Popen(["bash", "-c", PREP_LINE, "prep", str(script), str(done), *chromium], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    print(f"docker engine and images: getting ready in the background (log: {log})", flush=True)
    return {"FOODLAB_DOCKER_PREP": str(done)}, prep


def end_docker_prep(prep: subprocess.Popen | None) -> None:
    """A background run the session did not wait for (it ended early) is stopped, not left behind."""
    if prep is not None and prep.poll() is None:
        prep.terminate()
        try:
            prep.wait(timeout=30)
        except subprocess.TimeoutExpired:
            prep.kill()


def second_pass_env(env: dict[str, str]) -> dict[str, str]:
    """The second pass's environment: the other client, its own ports, run directory and analytics output."""
    return env | SECOND_PASS_ENV | SECOND_PASS_PORTS | {"RUN_DIR": str(SECOND_PASS_DIR),
                                                        "METRICS_DIR": str(SECOND_PASS_DIR / "metrics")}


def start_second_pass(results, env: dict[str, str]) -> subprocess.Popen:
    """The second client's pass, in the background (its output to `confluent.log`, printed at the end). It stays in
    make's process group: Ctrl-C stops it with everything else."""
    stop_native(["streaming-kafka"], second_pass_env(env))  # a crashed run's leftovers (only ever the tests')
    with open(results / "confluent.log", "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "pytest", f"--junitxml={results / 'confluent.xml'}",
                                 "-m", "integration and not docker", "-k", SECOND_PASS_SKIPS, *SECOND_PASS],
                                cwd=ROOT, env=second_pass_env(env), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def end_second_pass(proc: subprocess.Popen, results, env: dict[str, str], t0: float, interrupted: bool) -> int:
    """Wait for the second pass (stopped at once if the first pass was interrupted), stop its stack, print its
    output; its pytest exit code."""
    try:
        if interrupted and proc.poll() is None:
            proc.terminate()
        code = proc.wait()
    finally:
        stop_native(["streaming-kafka"], second_pass_env(env))
    sys.stdout.write((results / "confluent.log").read_text(errors="replace"))
    print(f"\nPart C under KAFKA_CLIENT={SECOND_CLIENT} (beside the first pass): done {time.monotonic() - t0:.0f}s "
          f"after the start (pytest exit code {code})", flush=True)
    return code


def main() -> int:
    results = ROOT / ".run" / "test-results"
    results.mkdir(parents=True, exist_ok=True)
    extra = shlex.split(os.environ.get("PYTEST_ARGS", ""))
    # The scenario scripts' own runtime detection is off: the tests choose native or docker themselves.
    env = os.environ | {"STACK_RUNTIME": "native"}
    t0 = time.monotonic()
    running, marked = native_state()
    stop_native(native_to_stop(running, running, marked))  # a crashed test run's leftovers, never a user's
    docker_down()
    prep_env, prep = start_docker_prep(results, extra, env)
    env |= prep_env
    running_before = native_state()[0]
    paths = [a for a in extra if not a.startswith("-") and (ROOT / a.split("::")[0]).exists()]
    second = None
    if env.get("KAFKA_CLIENT") != SECOND_CLIENT and selects_marked(extra, "integration") and not paths:
        second = start_second_pass(results, env)
    code, interrupted = 1, True
    try:
        code = subprocess.call([sys.executable, "-m", "pytest", f"--junitxml={results / 'all.xml'}", *extra],
                               cwd=ROOT, env=env)
        interrupted = False
    finally:
        end_docker_prep(prep)
        stop_native(native_to_stop(running_before, *native_state()))
        docker_down()
        if second is not None:
            print(f"\nfirst pass done in {time.monotonic() - t0:.0f}s; the second pass's output:", flush=True)
            second_code = end_second_pass(second, results, env, t0, interrupted)
            code = code if second_code in (0, 5) else second_code
    print(f"\nmake test finished in {time.monotonic() - t0:.0f}s (pytest exit code {code})")
    return 0 if code in (0, 5) else code  # 5: no tests selected (e.g. filtered out by -m): not a failure


if __name__ == "__main__":
    sys.exit(main())
