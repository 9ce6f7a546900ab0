"""Consumer lag per group, for the entry service's /metrics (it stays up while a consumer is down, so the lag
shows while it grows). Read from Kafka's admin API (streaming_kafka.lag) in a background thread at most every
`ttl_s`: a scrape waits at most `wait_s` for a fresh reading; without one it answers `kafka_lag_fresh 0` and no
lag, so a broker that hangs never makes a scrape slow or failed."""
from __future__ import annotations

import threading
import time
from typing import Callable

from common.metrics import gauge, gauges
from streaming_kafka.lag import LagRow, consumer_lag, total_lag
from streaming_kafka.topology import ANALYTICS_GROUP, INVENTORY_GROUP, ORDER_TOPIC

GROUPS = {INVENTORY_GROUP: (ORDER_TOPIC,), ANALYTICS_GROUP: None}  # None: every topic the group has committed to


class LagFigures:
    def __init__(self, settings, read: Callable[..., list[LagRow]] = consumer_lag, ttl_s: float = 2.0,
                 wait_s: float = 1.0):
        self.settings = settings
        self.read = read
        self.ttl_s = ttl_s
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._lags: dict[str, float] = {}
        self._at = float("-inf")  # when the last successful reading was taken (monotonic)
        self._ok = False
        self._running: threading.Thread | None = None

    def _refresh(self) -> None:
        try:
            lags = {group: float(total_lag(self.read(self.settings, group, topics)))
                    for group, topics in GROUPS.items()}
            ok = True
        except Exception:  # noqa: BLE001 - the broker is down or slow: the figure says so (kafka_lag_fresh 0)
            lags, ok = {}, False
        with self._lock:
            self._ok = ok
            if ok:
                self._lags, self._at = lags, time.monotonic()

    def __call__(self):
        with self._lock:
            stale = time.monotonic() - self._at >= self.ttl_s
            if stale and (self._running is None or not self._running.is_alive()):
                self._running = threading.Thread(target=self._refresh, name="kafka-lag", daemon=True)
                self._running.start()
            running = self._running
        if stale and running is not None:
            running.join(self.wait_s)
        with self._lock:
            fresh = self._ok and time.monotonic() - self._at < self.ttl_s + self.wait_s
            lags = dict(self._lags)
        yield gauge("kafka_lag_fresh", "1 when the lag below was read from Kafka for this scrape", 1 if fresh else 0)
        if fresh and lags:  # an old reading is no figure: a dashboard would show a lag that may be long gone
            yield gauges("kafka_consumer_group_lag", "Records the group has not yet committed, summed over its"
                         " partitions", "group", lags)
