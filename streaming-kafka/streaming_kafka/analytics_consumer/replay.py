"""`make replay`: recompute the analytics metrics in a fresh group `analytics-group-replay-<unix seconds>`,
from the earliest offsets up to the end offsets at its start; writes `metrics/replay_output.json`, exits 0.
"""
from __future__ import annotations

import sys
from pathlib import Path

from common.settings import get_settings
from streaming_kafka.analytics_consumer.gc_tuning import tune_gc
from streaming_kafka.analytics_consumer.worker import REPLAY_FILE, replay, write_atomic


def main() -> int:
    settings = get_settings()
    tune_gc()
    result = replay(settings)
    out = Path(settings.metrics_dir) / REPLAY_FILE
    write_atomic(out, result.text)
    m = result.metrics
    print(f"replay group {result.group}: {result.events} events in {result.seconds:.2f}s "
          f"({result.events_per_second:,.0f} events/s)")
    print(f"  total_orders_seen={m['total_orders_seen']} total_reserved={m['total_reserved']} "
          f"total_failed={m['total_failed']} failure_rate_percent={m['failure_rate_percent']}")
    print(f"  written to {out}")
    return 0


if __name__ == "__main__":
    from common.errors import exit_status
    from streaming_kafka.kafka_io import NoBrokersAvailable
    sys.exit(exit_status(main, unreachable=(NoBrokersAvailable,),
                         hint="no Kafka broker answers at KAFKA_BOOTSTRAP: start the part first (make up PART=streaming-kafka)"))
