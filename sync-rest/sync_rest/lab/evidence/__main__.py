"""`python -m sync_rest.lab.evidence [scenarios] [options]`: run one evidence writer (`scenarios` by default);
`--help` after the writer's name lists its options."""
import sys

from common.errors import exit_status
from labkit.evidence import run_writer
from sync_rest.lab.evidence import scenarios

WRITERS = {"scenarios": scenarios.main}


def main(argv: list[str] | None = None) -> int:
    return run_writer(WRITERS, argv)


if __name__ == "__main__":
    sys.exit(exit_status(main))
