"""Part B's chaos evidence: `python -m async_rabbitmq.lab.evidence chaos` (or `python async-rabbitmq/tests/test_chaos.py`)
against a running stack (`make up PART=async-rabbitmq`; `make demo` runs it) kills for 10 rounds and writes
`async-rabbitmq/tests/chaos_evidence.txt`.

CHAOS_SEED=<seed> replays a run's schedule (the seed is printed and written in the evidence).
"""
from __future__ import annotations

from async_rabbitmq.lab import chaos as ch
from async_rabbitmq.lab.client import Client
from common.settings import ROOT
from labkit.chaos import script

PART_DIR = ROOT / "async-rabbitmq"  # the part's folder

OUTPUT = PART_DIR / "tests" / "chaos_evidence.txt"
TITLE = "Chaos: kill -9 a random service (RabbitMQ included) at random moments under load, then account exactly"


def main(argv: list[str] | None = None) -> int:
    return script(argv, part=ch.PART, doc=__doc__, output=OUTPUT, title=TITLE,
                  part_title="Part B: asynchronous messaging with RabbitMQ",
                  run=lambda stack, settings, **kw: ch.run(stack, Client(settings), **kw))
