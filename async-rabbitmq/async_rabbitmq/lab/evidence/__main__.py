"""`python -m async_rabbitmq.lab.evidence [scenarios|chaos|failover] [options]`: run one evidence writer (`scenarios` by default);
`--help` after the writer's name lists its options."""
import sys

from async_rabbitmq.lab.evidence import chaos, failover, scenarios
from common.errors import exit_status
from labkit.evidence import run_writer

WRITERS = {"scenarios": scenarios.main, "chaos": chaos.main, "failover": failover.main}


def main(argv: list[str] | None = None) -> int:
    return run_writer(WRITERS, argv)


if __name__ == "__main__":
    sys.exit(exit_status(main))
