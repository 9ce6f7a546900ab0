"""Part B's chaos ring: 3 rounds against the natively started stack, and the accounting is asserted. Run as a
script, it is the evidence writer `python -m async_rabbitmq.lab.evidence chaos` (10 rounds).
"""
from __future__ import annotations

import sys

import pytest

from async_rabbitmq.lab import chaos as ch
from async_rabbitmq.lab.client import Client
from async_rabbitmq.lab.evidence.chaos import TITLE, main
from common.errors import exit_status
from labkit.chaos import render

# ---------------------------------------------------------------- pytest (scenario ring)
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def run(native_stack, settings):
    res = ch.run(native_stack, Client(settings), rounds=3, progress=lambda m: print(f"[chaos] {m}", flush=True))
    print(render(res, TITLE, ""))
    return res


def test_every_round_killed_and_restarted_the_broker_included(run):
    assert len(run.kills) == run.rounds and not [k.error for k in run.kills if k.error]
    assert ch.RABBITMQ in {k.service for k in run.kills}
    assert all(k.pid for k in run.kills)


def test_the_load_ran_through_the_kills(run):
    counts = run.outcomes()
    assert counts["accepted"] >= 100
    assert max(k.attempts_before for k in run.kills) < len(run.attempts)


def test_accounting_is_exact(run):
    assert run.checks and run.failed() == [], render(run, TITLE, "")


if __name__ == "__main__":  # the lab's documented command, kept: the evidence writer
    sys.exit(exit_status(main))
