"""`make redrive PART=streaming-kafka [ALL=1]`: re-produce retryable `OrderEvents.DLQ` records to `OrderEvents`
(see inventory_consumer/redrive.py); prints what it did."""
from __future__ import annotations

import argparse
import sys

from common.settings import get_settings
from streaming_kafka.inventory_consumer.redrive import redrive
from streaming_kafka.topology import ensure_topics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true", help="re-drive permanent poison too (e.g. after a fix)")
    args = parser.parse_args(argv)
    settings = get_settings()
    ensure_topics(settings)
    r = redrive(settings, include_all=args.all)
    kept = ", ".join(f"{n} {reason}" for reason, n in sorted(r.kept.items())) or "none"
    print(f"OrderEvents.DLQ: looked at {r.looked_at}, re-drove {r.redriven} to OrderEvents; "
          f"kept (not retryable): {kept}")
    return 0


if __name__ == "__main__":
    from common.errors import exit_status
    from streaming_kafka.kafka_io import NoBrokersAvailable
    sys.exit(exit_status(main, unreachable=(NoBrokersAvailable,),
                         hint="no Kafka broker answers at KAFKA_BOOTSTRAP: start the part first (make up PART=streaming-kafka)"))
