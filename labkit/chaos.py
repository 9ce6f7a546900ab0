"""The chaos ring's shared core: a load of tagged orders, `kill -9` of a random service (brokers included) at random
moments while it runs, and the accounting table's shape. Each part's `chaos.py` gives the one request and the
accounting from its own stores; this module owns the seeded schedule, the load threads and the kill rounds.

Replay a failing run with `CHAOS_SEED=<seed>`: the kill order, the moments, the downtimes and every order's item
and quantity come from the seed (the exact interleaving with the load depends on timing, as chaos does).
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from labkit.stack import Stack, wait_for

# What the client knows about one request.
ACCEPTED = "accepted"  # 202 with an order_id: the order must end in a final state
REFUSED = "refused"  # the connection was refused: nothing was sent, the order never existed
REJECTED = "rejected"  # a 4xx: refused by the service, must not exist
UNKNOWN = "unknown"  # the connection broke after sending, a timeout, a 5xx: it may or may not exist
OUTCOMES = (ACCEPTED, REFUSED, REJECTED, UNKNOWN)


@dataclass(frozen=True)
class Attempt:
    index: int
    tag: str  # the request's student_id: finds the order in the stores whatever the client was told
    item: str
    quantity: int
    outcome: str
    order_id: str | None = None
    http_status: int | None = None
    detail: str = ""


@dataclass
class Kill:
    round: int
    service: str
    at_s: float  # since the load began
    pid: int | None
    attempts_before: int
    down_s: float  # how long it stayed dead (seeded)
    restart_s: float = 0.0  # Stack.start until healthy
    error: str = ""  # the start failed: why (the round's finding)


@dataclass(frozen=True)
class Check:
    name: str
    source: str  # which independent record(s) it compares
    value: object
    expected: object
    ok: bool


@dataclass
class ChaosRun:
    part: str
    seed: int
    rounds: int
    services: tuple[str, ...]
    kills: list[Kill] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    load_seconds: float = 0.0
    settle_seconds: float = 0.0
    checks: list[Check] = field(default_factory=list)
    stock: dict[str, dict] = field(default_factory=dict)  # item -> initial, current, units by source
    dead_letters: list[dict] = field(default_factory=list)
    ghosts: list[Attempt] = field(default_factory=list)  # unknown outcomes whose order exists (and is final)
    notes: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks) and not any(k.error for k in self.kills)

    def outcomes(self) -> dict[str, int]:
        counts = Counter(a.outcome for a in self.attempts)
        return {o: counts.get(o, 0) for o in OUTCOMES}

    def check(self, name: str, source: str, value, expected, ok: bool | None = None) -> Check:
        c = Check(name, source, value, expected, value == expected if ok is None else ok)
        self.checks.append(c)
        return c

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def check_stock(self, items: Sequence[str], initial: dict, current: dict, counted: Counter, counted_as: str,
                    inventory_units: dict, source: str) -> Check:
        """The stock arithmetic, item by item: what left the stock (initial - current) equals the units
        `counted` from the part's own record of outcomes (`counted_as` names it) and the units inventory's
        reservation records hold. Fills the stock table and records one check."""
        exact = 0
        for item in items:
            row = {"initial": initial[item], "current": current[item],
                   "initial-current": initial[item] - current[item],
                   counted_as: counted[item], "reserved units (inv.)": inventory_units.get(item, 0)}
            self.stock[item] = row
            exact += row["initial-current"] == row[counted_as] == row["reserved units (inv.)"]
        return self.check("items whose stock arithmetic is exact", source, exact, len(items))


def seed_from(settings) -> int:
    """CHAOS_SEED when set, else a fresh one (printed in the evidence and the test output to replay it)."""
    return settings.chaos_seed if settings.chaos_seed is not None else random.SystemRandom().randrange(1, 2**31)


def order_for(seed: int, index: int, items: Sequence[str]) -> tuple[str, int]:
    """The item and quantity of order `index`: a function of the seed alone, whichever thread sends it."""
    rng = random.Random(f"{seed}:{index}")
    return rng.choice(items), rng.randint(1, 3)


def classify_error(exc: requests.RequestException) -> str:
    """REFUSED when the request cannot have reached the service (no connection was made), else UNKNOWN."""
    if isinstance(exc, requests.ConnectTimeout):
        return REFUSED
    if isinstance(exc, requests.ConnectionError) and ("NewConnectionError" in repr(exc)
                                                      or "Connection refused" in str(exc)):
        return REFUSED
    return UNKNOWN


def place_attempt(i: int, tag: str, item: str, qty: int, post: Callable[[dict], requests.Response]) -> Attempt:
    """One order of the load, `post`ed (`POST /order` of an asynchronous part, which answers 202), as an Attempt:
    ACCEPTED with its order id; a 4xx REJECTED; anything else (a 5xx, e.g. 503 after a send timeout, which may
    still have been delivered; a broken connection; a timeout) UNKNOWN, or REFUSED when nothing reached the
    service."""
    try:
        r = post({"student_id": tag, "item": item, "quantity": qty})
    except requests.RequestException as exc:
        return Attempt(i, tag, item, qty, classify_error(exc), detail=type(exc).__name__)
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code == 202 and body.get("order_id"):
        return Attempt(i, tag, item, qty, ACCEPTED, body["order_id"], 202)
    outcome = REJECTED if 400 <= r.status_code < 500 else UNKNOWN
    return Attempt(i, tag, item, qty, outcome, body.get("order_id"), r.status_code, str(body.get("error")))


def kill_plan(rng: random.Random, services: Sequence[str], rounds: int, must: str) -> list[str]:
    """Which service each round kills: a seeded shuffle of every service per cycle, so each is killed once per
    len(services) rounds; `must` (the broker) is in every run, even one shorter than a cycle."""
    plan: list[str] = []
    while len(plan) < rounds:
        cycle = list(services)
        rng.shuffle(cycle)
        plan += cycle
    plan = plan[:rounds]
    if must not in plan:
        plan[rng.randrange(rounds)] = must
    return plan


class Load:
    """`threads` clients sending tagged orders at about `rate` per second until stopped; every answer recorded."""

    def __init__(self, send: Callable[[int, str, str, int], Attempt], seed: int, token: str, items: Sequence[str],
                 threads: int = 4, rate: float = 20.0):
        self.send, self.seed, self.token, self.items = send, seed, token, items
        self.threads, self.interval = threads, threads / rate
        self.attempts: list[Attempt] = []
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.t0 = 0.0
        self.seconds = 0.0

    def tag(self, index: int) -> str:
        return f"chaos-{self.token}-{index}"

    @property
    def count(self) -> int:
        return len(self.attempts)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                i = self._next
                self._next += 1
            item, qty = order_for(self.seed, i, self.items)
            t = time.monotonic()
            attempt = self.send(i, self.tag(i), item, qty)
            with self._lock:
                self.attempts.append(attempt)
            # Pacing (the load's rate), and a short back-off while the front end is down.
            pause = self.interval - (time.monotonic() - t) if attempt.outcome != REFUSED else 0.1
            if pause > 0:
                self._stop.wait(pause)

    def start(self) -> None:
        self.t0 = time.monotonic()
        self._workers = [threading.Thread(target=self._run, name=f"chaos-load-{n}", daemon=True)
                         for n in range(self.threads)]
        for w in self._workers:
            w.start()

    def stop(self) -> list[Attempt]:
        self._stop.set()
        for w in self._workers:
            w.join(60)
        self.seconds = time.monotonic() - self.t0
        return sorted(self.attempts, key=lambda a: a.index)


def kill_rounds(stack: Stack, load: Load, plan: Sequence[str], rng: random.Random, gap_s: tuple[float, float],
                down_s: tuple[float, float], min_orders: int, progress=lambda _m: None) -> list[Kill]:
    """For each round: let the load run a random while (and at least `min_orders` more requests), `kill -9` the
    round's service, leave it dead a random while, start it again (healthy). A start that fails ends the rounds."""
    kills: list[Kill] = []
    pause = threading.Event()  # never set: its wait() is the schedule's random delay, not a wait for a condition
    for r, service in enumerate(plan, 1):
        gap, down = rng.uniform(*gap_s), rng.uniform(*down_s)
        floor = load.count + min_orders
        pause.wait(gap)
        wait_for(lambda f=floor: load.count >= f, 120, interval=0.05, what=f"{min_orders} more orders")
        pid = stack.pid(service) if hasattr(stack, "pid") else None
        kill = Kill(r, service, round(time.monotonic() - load.t0, 2), pid, load.count, round(down, 2))
        stack.kill(service)
        progress(f"round {r}: kill -9 {service} (pid {pid}) at {kill.at_s} s, {kill.attempts_before} requests sent")
        pause.wait(down)
        t = time.monotonic()
        try:
            stack.start(service)
        except Exception as exc:  # noqa: BLE001 - the failed restart is the finding: record it
            kill.error = f"{type(exc).__name__}: {str(exc)[-800:]}"
        kill.restart_s = round(time.monotonic() - t, 2)
        kills.append(kill)
        progress(f"round {r}: {service} started again in {kill.restart_s} s" + (f" FAILED {kill.error}" if kill.error
                                                                                 else ""))
        if kill.error:
            break
    return kills


def unknown_note(attempts: Sequence[Attempt], existing_tags: set[str]) -> str:
    """How the unknown outcomes resolved: which exist (by how the client was answered) and which never existed."""
    unknown = [a for a in attempts if a.outcome == UNKNOWN]
    exist = Counter(f"HTTP {a.http_status}" if a.http_status else a.detail for a in unknown if a.tag in existing_tags)
    absent = Counter(f"HTTP {a.http_status}" if a.http_status else a.detail for a in unknown
                     if a.tag not in existing_tags)
    return f"{len(unknown)} unknown: exist (final) {dict(exist) or 0}; never existed anywhere {dict(absent) or 0}"


def tags_by_outcome(attempts: Sequence[Attempt]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {o: set() for o in OUTCOMES}
    for a in attempts:
        out[a.outcome].add(a.tag)
    return out


# ------------------------------------------------------------------------------------------- evidence
def script(argv: list[str] | None, *, part: str, doc: str, part_title: str, title: str, output: Path,
           run: Callable[..., ChaosRun]) -> int:
    """The full-scale run behind each part's `python -m <package>.evidence chaos`: 10 rounds (by default) against
    the running stack, evidence written to `output`; exit status 1 unless every check holds. `run(stack,
    settings, **kw)` is the part's chaos.run."""
    import argparse

    from common.settings import get_settings
    from labkit.evidence import header, write
    from labkit.stack import get_stack

    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--runtime", choices=("native", "docker"), default=None)
    ap.add_argument("--output", type=Path, default=output)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--rate", type=float, default=60.0, help="orders per second the load aims at")
    args = ap.parse_args(argv)
    settings = get_settings()
    stack = get_stack(part, args.runtime, settings)
    stack.ensure_up()  # the whole part, as `make up` does
    res = run(stack, settings, rounds=args.rounds, threads=6, rate=args.rate, scarce_units=400,
              progress=lambda m: print(f"[{part} chaos] {m}", flush=True))
    write(args.output, render(res, title, header(part_title, stack.describe())))
    print(f"[{part} chaos] evidence written to {args.output}; "
          f"{'every check holds' if res.ok else 'FAILED: ' + str(res.failed())}")
    return 0 if res.ok else 1


def render(run: ChaosRun, title: str, header: str) -> str:
    """The evidence text: the seed, the rounds, what the client was told, the accounting table, the stock, the
    dead letters; the same ChaosRun the tests assert."""
    out = [header, title, "-" * 78,
           f"seed    : {run.seed}  (replay: CHAOS_SEED={run.seed})",
           f"rounds  : {run.rounds}, services {', '.join(run.services)}; load {run.load_seconds} s, "
           f"settled {run.settle_seconds} s after the last round",
           "", "round  killed (kill -9)        at (s)  pid       requests before  dead for (s)  restart (s)",
           *[f"{k.round:>5}  {k.service:<22} {k.at_s:>6}  {k.pid or '-':<9} {k.attempts_before:>15}  "
             f"{k.down_s:>12}  {k.restart_s:>11}" + (f"  START FAILED: {k.error}" if k.error else "")
             for k in run.kills],
           "", "what the client was told: " + ", ".join(f"{k} {v}" for k, v in run.outcomes().items())
           + f" (of {len(run.attempts)} requests)",
           "", f"{'check':<66} {'source':<44} {'value':>8} {'expected':>8}  ok"]
    for c in run.checks:
        out.append(f"{c.name:<66} {c.source:<44} {str(c.value):>8} {str(c.expected):>8}  "
                   f"{'yes' if c.ok else 'NO'}")
    if run.stock:
        keys = list(next(iter(run.stock.values())))
        out += ["", "stock arithmetic per item (initial - current == reserved units, from each source)",
                f"  {'item':<8}" + "".join(f"{k:>26}" for k in keys)]
        out += [f"  {item:<8}" + "".join(f"{str(v.get(k)):>26}" for k in keys) for item, v in run.stock.items()]
    out.append("")
    out.append(f"dead letters during the run: {len(run.dead_letters)}"
               + ("" if not run.dead_letters else " (each with its reason header):"))
    out += [f"  {d}" for d in run.dead_letters[:50]]
    for k, v in run.notes.items():
        out.append(f"{k}: {v}")
    out.append(f"RESULT: {'every check holds' if run.ok else 'FAILED: ' + ', '.join(c.name for c in run.failed())}")
    return "\n".join(out) + "\n"
