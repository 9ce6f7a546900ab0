"""`python -m labkit.runtime` as a user runs it, in a subprocess, on a run directory of its own (no stack is
started): `logs` into a reader that closes early, an unknown service name, following new lines, and other
ordinary misuse: a one-line error and a non-zero status, never a traceback."""
import os
import subprocess
import sys
import threading

import pytest

from common.settings import ROOT

pytestmark = pytest.mark.integration

SERVICES = ("notification-service", "inventory-service", "order-service")


@pytest.fixture
def run_dir(tmp_path):
    logs = tmp_path / "sync-rest" / "logs"
    logs.mkdir(parents=True)
    for svc in SERVICES:  # more than a pipe's buffer in all, so the writer meets the closed pipe
        (logs / f"{svc}.log").write_text("".join(f"{svc} line {i} {'x' * 200}\n" for i in range(400)))
    return tmp_path


def cli(run_dir, *args, **kw):
    env = os.environ | {"RUN_DIR": str(run_dir)}
    return subprocess.Popen([sys.executable, "-m", "labkit.runtime", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_logs_into_a_reader_that_closes_early_is_quiet(run_dir):
    proc = cli(run_dir, "logs", "sync-rest", "-n", "400")
    first = proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 0
    assert first.startswith(b"==> notification-service <==")
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_logs_of_an_unknown_service_is_an_error_naming_the_valid_ones(run_dir):
    proc = cli(run_dir, "logs", "sync-rest", "no-such-service")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and out == b""
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "no-such-service" in lines[0], lines
    assert all(svc in lines[0] for svc in SERVICES)


def test_logs_follow_prints_lines_written_afterwards(run_dir):
    proc = cli(run_dir, "logs", "sync-rest", "inventory-service", "-n", "1", "--follow")
    seen: list[bytes] = []
    tail_read, found = threading.Event(), threading.Event()

    def read():
        for line in proc.stdout:
            seen.append(line)
            if len(seen) == 2:
                tail_read.set()
            if b"written after the start" in line:
                found.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert tail_read.wait(timeout=30), seen  # the header and the one tail line came first
        with (run_dir / "sync-rest" / "logs" / "inventory-service.log").open("a") as fh:
            fh.write("written after the start\n")
        assert found.wait(timeout=30), seen
        assert seen[0].startswith(b"==> inventory-service <==") and b"line 399" in seen[1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("args", [("stop", "sync-rest", "no-such-service"), ("kill", "sync-rest", "no-such-service"),
                                  ("start", "sync-rest", "no-such-service")])
def test_an_unknown_service_is_one_line_and_a_non_zero_status(run_dir, args):
    proc = cli(run_dir, *args)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in err.decode() and len(err.decode().strip().splitlines()) == 1, err.decode()


@pytest.mark.parametrize("module", ["streaming_kafka.analytics_consumer.replay", "streaming_kafka.lab.redrive",
                                    "async_rabbitmq.lab.redrive"])
def test_a_broker_tool_with_no_broker_says_so_in_one_line(module):
    """`make replay` / `make redrive` before `make up`: one line saying what to start, not a client traceback.
    The broker addresses point at a closed port, so no broker of a running stack is touched."""
    env = os.environ | {"KAFKA_BOOTSTRAP": "127.0.0.1:1", "RABBITMQ_PORT": "1", "RABBITMQ_NODES": "", "BROKERS": "1"}
    out = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "make up PART=" in lines[0] and "Traceback" not in out.stderr, out.stderr
