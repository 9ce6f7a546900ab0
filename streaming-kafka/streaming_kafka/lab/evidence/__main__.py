"""`python -m streaming_kafka.lab.evidence [scenarios|chaos|failover] [options]`: run one evidence writer
(`scenarios` by default); `--help` after the writer's name lists its options."""
import sys

from common.errors import exit_status
from streaming_kafka.lab.evidence import chaos, failover, scenarios

WRITERS = {"scenarios": scenarios.main, "chaos": chaos.main, "failover": failover.main}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv.pop(0) if argv and argv[0] in WRITERS else "scenarios"
    return WRITERS[name](argv)


if __name__ == "__main__":
    sys.exit(exit_status(main))
