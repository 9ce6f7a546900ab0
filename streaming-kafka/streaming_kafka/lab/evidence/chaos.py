"""Part C's chaos evidence: `python -m streaming_kafka.lab.evidence chaos` (or `python streaming-kafka/tests/test_chaos.py`)
against a running stack (`make up PART=streaming-kafka`; `make demo` runs it) kills for 10 rounds and writes
`streaming-kafka/tests/chaos_evidence.txt`.

CHAOS_SEED=<seed> replays a run's schedule (the seed is printed and written in the evidence).
"""
from __future__ import annotations

from common.settings import ROOT
from labkit.chaos import script
from streaming_kafka.lab import chaos as ch

PART_DIR = ROOT / "streaming-kafka"  # the part's folder

OUTPUT = PART_DIR / "tests" / "chaos_evidence.txt"
TITLE = "Chaos: kill -9 a random service (Kafka included) at random moments under load, then account exactly"


def main(argv: list[str] | None = None) -> int:
    return script(argv, part=ch.PART, doc=__doc__, output=OUTPUT, title=TITLE,
                  part_title="Part C: streaming with Kafka",
                  run=ch.run)
