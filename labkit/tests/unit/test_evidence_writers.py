"""A part's evidence command picks its writer by the first argument and passes the rest on."""
import pytest

from labkit.evidence import run_writer

pytestmark = pytest.mark.unit


def test_the_named_writer_runs_with_the_rest_and_the_first_is_the_default():
    calls = []
    writers = {"scenarios": lambda argv: calls.append(("scenarios", argv)) or 0,
               "chaos": lambda argv: calls.append(("chaos", argv)) or 3}
    assert run_writer(writers, ["chaos", "--rounds", "2"]) == 3
    assert run_writer(writers, ["--runtime", "docker"]) == 0
    assert run_writer(writers, []) == 0
    assert calls == [("chaos", ["--rounds", "2"]), ("scenarios", ["--runtime", "docker"]), ("scenarios", [])]
