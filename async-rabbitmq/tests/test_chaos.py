"""Part B's chaos ring. `python async-rabbitmq/tests/test_chaos.py` against a running stack (`make up
PART=async-rabbitmq`; `make demo` runs it) kills for 10 rounds and writes `async-rabbitmq/tests/chaos_evidence.txt`.
Under pytest, 3 rounds run against the natively started stack and the accounting is asserted.

CHAOS_SEED=<seed> replays a run's schedule (the seed is printed and written in the evidence).
"""
from __future__ import annotations

import sys
from pathlib import Path


import pytest

from async_rabbitmq import chaos as ch
from common.chaos import render, script
from async_rabbitmq.lab import Lab

PART_DIR = Path(__file__).resolve().parents[1]

OUTPUT = PART_DIR / "tests" / "chaos_evidence.txt"
TITLE = "Chaos: kill -9 a random service (RabbitMQ included) at random moments under load, then account exactly"


def main(argv: list[str] | None = None) -> int:
    return script(argv, part=ch.PART, doc=__doc__, output=OUTPUT, title=TITLE,
                  part_title="Part B: asynchronous messaging with RabbitMQ",
                  run=lambda stack, settings, **kw: ch.run(stack, Lab(settings), **kw))


# ---------------------------------------------------------------- pytest (scenario ring)
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def run(native_stack, settings):
    res = ch.run(native_stack, Lab(settings), rounds=3, progress=lambda m: print(f"[chaos] {m}", flush=True))
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


if __name__ == "__main__":
    sys.exit(main())
