"""`make redrive PART=async-rabbitmq [ALL=1]`: move retryable dead letters from `orders_dlq` and
`inventory_events_dlq` back to the queue that rejected them (see messaging/redrive.py); prints what it did."""
from __future__ import annotations

import argparse
import sys

from async_rabbitmq.messaging.amqp import blocking_connection, declare_topology
from async_rabbitmq.messaging.redrive import redrive
from common.settings import get_settings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true", help="re-drive permanent poison too (e.g. after a fix)")
    args = parser.parse_args(argv)
    settings = get_settings()
    declare_topology(settings)
    conn = blocking_connection(settings)
    try:
        results = redrive(conn, include_all=args.all)
    finally:
        conn.close()
    for r in results:
        moved = ", ".join(f"{n} to {q}" for q, n in sorted(r.redriven.items())) or "nothing"
        kept = ", ".join(f"{n} {reason}" for reason, n in sorted(r.kept.items())) or "none"
        print(f"{r.queue}: looked at {r.looked_at}, re-drove {moved}; kept (not retryable): {kept}")
    return 0


if __name__ == "__main__":
    from pika.exceptions import AMQPConnectionError

    from common.errors import exit_status
    sys.exit(exit_status(main, unreachable=(AMQPConnectionError,),
                         hint="no RabbitMQ node answers: start the part first (make up PART=async-rabbitmq)"))
