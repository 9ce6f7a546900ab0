"""What a part's dashboard shows, and the sampler that reads it: each figure is one number taken from a service's
`/metrics` (a gauge, a counter's rate, a histogram's mean), sampled with every service's `/health` about once a
second into a short history. Pure apart from the `fetch` function it is given, so tests feed it fake scrapes."""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Figure:
    """One number of the page. `kind`: `gauge` (the samples' sum), `rate` (a counter's increase per second since
    the previous sample), `mean_ms` (a histogram's mean over that interval, in ms). `match`: label sets whose
    samples are added up (one empty set: every sample of `metric`). `words`: a gauge's value shown as a word
    (the breaker's 0/1/2). `name` is the page's `data-metric` and the JSON's key."""

    name: str
    label: str
    source: str
    metric: str
    match: tuple[Labels, ...] = ({},)
    kind: str = "gauge"
    words: Mapping[int, str] | None = None
    unit: str = ""

    def __post_init__(self):
        if self.kind not in ("gauge", "rate", "mean_ms"):
            raise ValueError(f"figure {self.name}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class Chart:
    title: str
    figures: tuple[str, ...]


@dataclass(frozen=True)
class Board:
    """A part's page: its services (name -> the Settings field of its base URL), figures and history charts."""

    part: str
    title: str
    sources: Mapping[str, str]
    figures: tuple[Figure, ...]
    charts: tuple[Chart, ...] = ()

    def __post_init__(self):
        names = [f.name for f in self.figures]
        for f in self.figures:
            if f.source not in self.sources:
                raise ValueError(f"figure {f.name}: no source {f.source!r}")
        for c in self.charts:
            missing = set(c.figures) - set(names)
            if missing:
                raise ValueError(f"chart {c.title!r}: no figure {', '.join(sorted(missing))}")
        if len(set(names)) != len(names):
            raise ValueError("figure names repeat")


Samples = dict[str, list[tuple[dict[str, str], float]]]  # metric sample name -> (labels, value) of each sample


def parse(text: str) -> Samples:
    """A `/metrics` answer (the text format) as samples by name."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def total(samples: Samples | None, metric: str, match: tuple[Labels, ...]) -> float | None:
    """The sum of `metric`'s samples that carry one of the `match` label sets; None when none is there, except
    for a counter (`_total`) of a service that answered: a labelled counter has no sample until it first counts."""
    if samples is None:
        return None
    found = [v for labels, v in samples.get(metric, ())
             if any(m.items() <= labels.items() for m in match)]
    if found:
        return math.fsum(found)
    return 0.0 if metric.endswith("_total") else None


@dataclass
class Reading:
    """One round of scrapes: each source's samples (None: it did not answer) and health (None: down)."""

    at: float
    samples: dict[str, Samples | None]
    health: dict[str, dict | None]


# fetch(source name, path) -> (status, body text); raises OSError-like errors when the service is unreachable
Fetch = Callable[[str, str], tuple[int, str]]


def read(board: Board, fetch: Fetch, clock: Callable[[], float] = time.time,
         pool: ThreadPoolExecutor | None = None) -> Reading:
    """Scrape every source's /metrics and /health (in parallel when given a pool)."""
    import orjson

    def one(source: str) -> tuple[Samples | None, dict | None]:
        samples: Samples | None = None
        health: dict | None = None
        try:
            status, body = fetch(source, "/metrics")
            if status == 200:
                samples = parse(body)
        except Exception:  # noqa: BLE001 - down, slow or garbled: the page shows the service as down
            samples = None
        try:
            status, body = fetch(source, "/health")
            doc = orjson.loads(body) if status == 200 else None
            health = doc if isinstance(doc, dict) else None
        except Exception:  # noqa: BLE001 - as above
            health = None
        return samples, health

    at = clock()
    names = list(board.sources)
    results = list(pool.map(one, names)) if pool else [one(n) for n in names]
    return Reading(at, {n: r[0] for n, r in zip(names, results, strict=True)},
                   {n: r[1] for n, r in zip(names, results, strict=True)})


def faults(health: dict | None) -> list[str]:
    """The fault switches a service's /health says are on, as `name=value` words."""
    switches = (health or {}).get("faults")
    if not isinstance(switches, dict):
        return []
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in switches.items() if v]


def values(board: Board, now: Reading, before: Reading | None) -> dict[str, float | None]:
    """Each figure's number from this reading (and the previous one, for rates and means)."""
    out: dict[str, float | None] = {}
    for f in board.figures:
        cur = now.samples.get(f.source)
        if f.kind == "gauge":
            out[f.name] = total(cur, f.metric, f.match)
            continue
        prev = before.samples.get(f.source) if before else None
        dt = now.at - before.at if before else 0.0
        if f.kind == "rate":
            a, b = total(prev, f.metric, f.match), total(cur, f.metric, f.match)
            # a restarted service starts its counters again at 0: no rate for that interval
            out[f.name] = (b - a) / dt if a is not None and b is not None and dt > 0 and b >= a else None
        else:  # mean_ms
            s0, s1 = total(prev, f.metric + "_sum", f.match), total(cur, f.metric + "_sum", f.match)
            c0, c1 = total(prev, f.metric + "_count", f.match), total(cur, f.metric + "_count", f.match)
            if None in (s0, s1, c0, c1):
                out[f.name] = None
            else:
                n = c1 - c0  # type: ignore[operator]
                out[f.name] = (s1 - s0) / n * 1000 if n > 0 else None  # type: ignore[operator]
    return out


def shown(f: Figure, value: float | None) -> str:
    """The text of a figure's element: a word, an integer or one decimal; `-` when unknown."""
    if value is None:
        return "-"
    if f.words is not None:
        return f.words.get(int(value), str(value))
    if f.kind == "gauge" and float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}"


@dataclass
class Sampler:
    """Reads the board every `interval_s` while someone polls it (and every `idle_s` otherwise, so an unwatched
    dashboard costs the stack little), keeping `history_s` of figures. `run()`/`stop()`: a `common.process`
    worker."""

    board: Board
    fetch: Fetch
    interval_s: float = 1.0
    idle_s: float = 5.0
    history_s: float = 300.0
    watched_s: float = 60.0  # polled within this long: sample at interval_s
    clock: Callable[[], float] = time.time
    name: str = "dashboard-sampler"
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last: Reading | None = None
    _current: dict[str, Any] = field(default_factory=dict)
    _polled_at: float = float("-inf")
    # A gauge its service answered without (Part C's lag is read from Kafka now and then, not at every scrape)
    # keeps its last value this long; a service that does not answer shows none at once.
    hold_s: float = 5.0
    _seen: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self):
        self._history: deque[tuple[float, dict[str, float | None]]] = deque(
            maxlen=max(2, int(self.history_s / self.interval_s)))
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.board.sources)), thread_name_prefix="scrape")

    def sample(self) -> dict[str, Any]:
        """One round: read, compute, append to the history; returns the state."""
        reading = read(self.board, self.fetch, self.clock, self._pool)
        figures = self._held(values(self.board, reading, self._last), reading)
        services = [{"name": n, "up": reading.health[n] is not None, "metrics": reading.samples[n] is not None,
                     "faults": faults(reading.health[n])} for n in self.board.sources]
        state = {"part": self.board.part, "at": reading.at, "figures": figures,
                 "text": {f.name: shown(f, figures[f.name]) for f in self.board.figures}, "services": services}
        with self._lock:
            self._last = reading
            self._current = state
            self._history.append((reading.at, figures))
        return state

    def _held(self, figures: dict[str, float | None], reading: Reading) -> dict[str, float | None]:
        for f in self.board.figures:
            if f.kind != "gauge":
                continue
            value, seen = figures[f.name], self._seen.get(f.name)
            if value is not None:
                self._seen[f.name] = (reading.at, value)
            elif seen and reading.samples.get(f.source) is not None and reading.at - seen[0] <= self.hold_s:
                figures[f.name] = seen[1]
        return figures

    def state(self, since: float | None = None) -> dict[str, Any]:
        """The latest state and the history after `since` (all of it when None); marks the board as watched."""
        with self._lock:
            self._polled_at = time.monotonic()
            current = dict(self._current) or {"part": self.board.part, "at": None, "figures": {}, "text": {},
                                              "services": []}
            history = [(t, v) for t, v in self._history if since is None or t > since]
        current["history"] = {"t": [t for t, _ in history],
                              **{f.name: [v.get(f.name) for _, v in history] for f in self.board.figures}}
        return current

    def watched(self) -> bool:
        return time.monotonic() - self._polled_at < self.watched_s

    def run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.sample()
            # the next sample: interval_s after this one while watched, idle_s otherwise (a page that starts
            # polling an idle board wakes it within a tick)
            while not self._stop.wait(min(0.2, self.interval_s)):
                if time.monotonic() - t0 >= (self.interval_s if self.watched() else self.idle_s):
                    break
        self._pool.shutdown(wait=False)

    def stop(self) -> None:
        self._stop.set()
