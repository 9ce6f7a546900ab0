"""`make demo`'s dashboard step (alone: `.venv/bin/python -m labkit.dashboard_shots [PART ...]`): each part
natively, a steady trickle of orders, then its inventory stopped while orders keep coming; a screenshot of the
part's dashboard in headless Chromium at the outage's peak (Part A's breaker open, Part B's backlog in
`inventory_orders`, Part C's inventory lag) into `docs/img/dashboard_<part>.png`; inventory restarted, the part
stopped."""
from __future__ import annotations

import argparse
import sys
import threading
import time

import requests

from common.settings import ROOT, Settings

from .browser import Browser, BrowserUnavailable
from .runtime.spec import PARTS
from .stack import NativeStack

INVENTORY = {"sync-rest": "inventory-service", "async-rabbitmq": "inventory-service",
             "streaming-kafka": "inventory-consumer"}
# what the page must show before the screenshot: the outage at work
PEAK = {"sync-rest": ("breaker_state", "v === 'open'"),
        "async-rabbitmq": ("queue_depth", "Number(v) >= 100"),
        "streaming-kafka": ("lag_inventory", "Number(v) >= 100")}
BASELINE_S, RATE_PER_S = 20.0, 8.0


class Trickle:
    """Orders at a steady rate from a thread, whatever they are answered."""

    def __init__(self, settings: Settings):
        self.url = f"{settings.order_url}/order"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.wait(1 / RATE_PER_S):
            try:
                session.post(self.url, json={"student_id": "demo", "item": "coffee", "quantity": 1}, timeout=10)
            except requests.RequestException:
                pass  # the outage is the point: the dashboard shows it

    def __enter__(self) -> Trickle:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=15)


def shoot(part: str, settings: Settings, browser: Browser) -> str:
    stack = NativeStack(part, settings, admin=True)
    stack.up()
    try:
        # full stock: the outage, not an item sold out, is what the picture shows
        requests.post(f"{settings.inventory_url}/admin/reset", timeout=10).raise_for_status()
        browser.blank()
        browser.open(f"http://127.0.0.1:{settings.dashboard_port}/")
        browser.wait_metric("orders_confirmed", "/^\\d+$/.test(v)", timeout_s=60)
        with Trickle(settings):
            browser.pump(BASELINE_S)
            stack.stop(INVENTORY[part])
            try:
                name, predicate = PEAK[part]
                browser.wait_metric(name, predicate, timeout_s=90)
                browser.pump(3)  # one more sample or two on the charts
                path = browser.screenshot(ROOT / "docs" / "img" / f"dashboard_{part}.png")
            finally:
                stack.start(INVENTORY[part])
        if browser.errors:
            raise RuntimeError(f"{part}: the page logged errors: {browser.errors}")
        return str(path.relative_to(ROOT))
    finally:
        browser.blank()
        stack.down()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("parts", nargs="*", metavar="PART", help=f"default: all ({', '.join(PARTS)})")
    args = ap.parse_args(argv)
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown part {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    args.parts = args.parts or list(PARTS)
    settings = Settings()
    try:
        with Browser(width=1280, height=800) as browser:
            for part in args.parts:
                t0 = time.monotonic()
                print(f"{part}: {shoot(part, settings, browser)} ({time.monotonic() - t0:.0f} s)", flush=True)
    except BrowserUnavailable as exc:
        print(f"dashboard screenshots skipped: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
