"""`python -m streaming_kafka.lab.evidence [scenarios|chaos|failover] [options]`: run one evidence writer
(`scenarios` by default); `--help` after the writer's name lists its options."""
import sys

from common.errors import exit_status
from labkit.evidence import run_writer
from streaming_kafka.lab.evidence import chaos, failover, scenarios

WRITERS = {"scenarios": scenarios.main, "chaos": chaos.main, "failover": failover.main}


def main(argv: list[str] | None = None) -> int:
    return run_writer(WRITERS, argv)


if __name__ == "__main__":
    sys.exit(exit_status(main))
