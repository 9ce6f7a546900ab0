"""`make test`: every ring of every part, brokers included, in two pytest processes side by side (lanes); ends
with each one's own 'N passed, N failed' line and the wall time.

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
Parts A's and C's native rings (their scenario rings natively, their integration rings, Part C's brokers and
clusters included) run in a second lane beside the rest, from the start, on ports and a run directory of their own
(LANE_PORTS, `.run/lane/`), when the `-m` expression selects them; then, in that lane, Part C's scenario ring,
chaos rounds and consumer fuzzing again under the other Kafka client (`KAFKA_CLIENT=confluent`). The second lane's
output is printed after the first's. Every test carries its part's marker (`-m streaming_kafka`; labkit.testing).
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from _pytest.mark.expression import Expression

from common.settings import ROOT
from labkit.runtime import compose
from labkit.runtime.spec import PARTS
from labkit.stack import CLUSTER_FILE, cluster_secrets
from labkit.testing import part_marker


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


# Parts A's and C's native rings run beside the rest, from the start, in a second lane: on ports and a run
# directory of their own (LANE_PORTS, `.run/lane/`), apart from Part B's native stacks, every compose stack (the
# default ports, or those compose publishes) and a user's `make up` (.run/). Both lanes use the same two cores, but
# much of either's time is waiting (brokers booting, injected delays and timeouts), which the other fills.
LANE_PARTS = ["sync-rest", "streaming-kafka"]
LANE_MARKS = f"({' or '.join(map(part_marker, LANE_PARTS))}) and integration and not docker"
LANE_PORTS = {"ORDER_PORT": "16000", "INVENTORY_PORT": "16001", "NOTIFICATION_PORT": "16002",
              "DASHBOARD_PORT": "16003", "PROMETHEUS_PORT": "19090", "KAFKA_BOOTSTRAP": "127.0.0.1:19092",
              "KAFKA_CONTROLLER_PORT": "19093"}  # below Linux's ephemeral ports (32768-60999): a broker restarted
# on 39092 found it taken by some client's outgoing connection ("Address already in use")
LANE_DIR = ROOT / ".run" / "lane"
# Then, in the second lane, Part C again under confluent-kafka: the scenario ring (replay equals live, scale-out, a crash
# mid-stream), the chaos ring (kills, the broker's included) and the consumer fuzzing (fewer batches: the records'
# shapes are the first run's, what differs is the client under the consumers), at test scale. The seam's own
# guarantees under both clients are streaming-kafka/tests/integration/test_kafka_clients.py's, in the first run.
SECOND_CLIENT = "confluent"
SECOND_PASS = ["streaming-kafka/tests/test_streaming.py", "streaming-kafka/tests/test_chaos.py",
               "streaming-kafka/tests/integration/test_consumer_fuzz.py"]
SECOND_PASS_ENV = {"KAFKA_CLIENT": SECOND_CLIENT, "FUZZ_EXAMPLES": "10"}
# How lag grows while the inventory consumer is stopped or throttled is the service's, not the client's: once.
SECOND_PASS_SKIPS = "not lag_grows"


def split_option(extra: list[str], flag: str) -> tuple[list[str], list[str]]:
    """PYTEST_ARGS' values of `flag` (`-m`, `-k`), and the other arguments."""
    values, rest, args = [], [], iter(extra)
    for a in args:
        if a == flag:
            values.append(next(args, ""))
        else:
            rest.append(a)
    return values, rest


def and_option(extra: list[str], flag: str, expression: str) -> list[str]:
    """`extra` with one `flag` (`-m`, `-k`): its own expressions (pytest would keep only the last) and `expression`,
    all of them."""
    values, rest = split_option(extra, flag)
    return [*rest, flag, " and ".join(f"({v})" for v in [*values, expression])]


def selects(extra: list[str], markers: set[str]) -> bool:
    """Whether PYTEST_ARGS' `-m` expressions (none: everything) keep a test carrying exactly `markers`."""
    return all(Expression.compile(m).evaluate(lambda name: name in markers) for m in split_option(extra, "-m")[0])


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
    if not script.exists() or not selects(extra, {"docker"}):
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


def lane_env(env: dict[str, str]) -> dict[str, str]:
    """The second lane's environment: its own ports, run directory and analytics output."""
    return env | LANE_PORTS | {"RUN_DIR": str(LANE_DIR), "METRICS_DIR": str(LANE_DIR / "metrics")}


@dataclass
class LaneRun:
    title: str
    name: str  # of its log and JUnit file in the results folder
    args: list[str]  # pytest's
    env: dict[str, str]
    code: int | None = None
    seconds: float = 0.0


def lane_runs(extra: list[str], env: dict[str, str]) -> list[LaneRun]:
    """Parts A's and C's native rings, Part C under the session's client (kafka-python-ng unless KAFKA_CLIENT says
    otherwise); then Part C under the second client, when PYTEST_ARGS selects its integration ring and the session's
    client is not that one already."""
    client = env.get("KAFKA_CLIENT") or "kafka-python-ng"
    runs = [LaneRun(f"Parts A and C natively (KAFKA_CLIENT={client})", "lane",
                    [*and_option(extra, "-m", LANE_MARKS), *LANE_PARTS], lane_env(env))]
    if client != SECOND_CLIENT and selects(extra, {"streaming_kafka", "integration"}):
        runs.append(LaneRun(f"Part C again under KAFKA_CLIENT={SECOND_CLIENT}", SECOND_CLIENT,
                            [*and_option(split_option(extra, "-m")[1], "-k", SECOND_PASS_SKIPS), "-m",
                             "integration and not docker", *SECOND_PASS],
                            lane_env(env) | SECOND_PASS_ENV))
    return runs


class Lane(threading.Thread):
    """Runs its pytest runs one after the other, each into its own log, and stops the native parts each run left
    (and a crashed session's before the first). `stop()` ends the run under way and skips the rest."""

    def __init__(self, runs: list[LaneRun], results: Path):
        super().__init__(name="lane", daemon=True)
        self.runs, self.results = runs, results
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._stopped = False

    def run(self) -> None:
        for r in self.runs:
            stop_native(LANE_PARTS, r.env)  # leftovers: only ever the tests' (their own run directory)
            with self._lock:
                if self._stopped:
                    return
                t0 = time.monotonic()
                with open(self.results / f"{r.name}.log", "wb") as out:
                    self._proc = subprocess.Popen(
                        [sys.executable, "-m", "pytest", f"--junitxml={self.results / (r.name + '.xml')}", *r.args],
                        cwd=ROOT, env=r.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            r.code = self._proc.wait()
            r.seconds = time.monotonic() - t0
        stop_native(LANE_PARTS, self.runs[-1].env)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()


def end_lane(lane: Lane, t0: float, interrupted: bool) -> int:
    """Wait for the lane (stopped at once if the main lane was interrupted), print each run's output; the worst
    pytest exit code (5, nothing selected, counts as none)."""
    if interrupted:
        lane.stop()
    lane.join()
    code = 0
    for r in lane.runs:
        log = lane.results / f"{r.name}.log"
        if r.code is None:
            print(f"\n{r.title}: not run", flush=True)
            continue
        sys.stdout.write(log.read_text(errors="replace"))
        print(f"\n{r.title}: {r.seconds:.0f}s (pytest exit code {r.code})", flush=True)
        code = code if r.code in (0, 5) else r.code
    print(f"the second lane done {time.monotonic() - t0:.0f}s after the start", flush=True)
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
    lane = None
    if any(selects(extra, {part_marker(p), "integration"}) for p in LANE_PARTS) and not paths:
        lane = Lane(lane_runs(extra, env), results)
        extra = and_option(extra, "-m", f"not ({LANE_MARKS})")
        lane.start()
        print("Parts A's and C's native rings: in a second lane, on ports of their own (its output at the end)",
              flush=True)
    code, interrupted = 1, True
    try:
        code = subprocess.call([sys.executable, "-m", "pytest", f"--junitxml={results / 'all.xml'}", *extra],
                               cwd=ROOT, env=env)
        interrupted = False
    finally:
        end_docker_prep(prep)
        stop_native(native_to_stop(running_before, *native_state()))
        docker_down()
        if lane is not None:
            print(f"\nthe first lane done in {time.monotonic() - t0:.0f}s; the second lane's output:", flush=True)
            lane_code = end_lane(lane, t0, interrupted)
            code = code if lane_code == 0 else lane_code
    print(f"\nmake test finished in {time.monotonic() - t0:.0f}s (pytest exit code {code})")
    return 0 if code in (0, 5) else code  # 5: no tests selected (e.g. filtered out by -m): not a failure


if __name__ == "__main__":
    sys.exit(main())
