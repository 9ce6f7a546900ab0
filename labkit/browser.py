"""Headless Chromium (Debian's `chromium` package) driven over the DevTools protocol, for the dashboard's
browser ring and `make demo`'s screenshots: open a page, read it with JavaScript, wait for a condition, collect
console errors, exceptions and every URL the page asked for, take a PNG screenshot.

A plain websocket client (websocket-client) speaks the protocol; no pip package that downloads a browser of its
own. `find_chromium()` installs Debian's package when it is missing and this user is root, as the native runtime
installs rabbitmq-server; otherwise it says why there is none.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import websocket

BINARIES = ("chromium", "chromium-browser")


class BrowserUnavailable(RuntimeError):
    """No Chromium here, and none can be installed: the message says why (a test skips with it)."""


def find_chromium(install: bool = True) -> str:
    """The path of Chromium, installing Debian's `chromium` when it is missing (root only)."""
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    if not install:
        raise BrowserUnavailable("chromium is not installed (apt-get install -y chromium)")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BrowserUnavailable("chromium is not installed and this user cannot install it: "
                                 "sudo apt-get install -y chromium")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    wait = ["-o", "DPkg::Lock::Timeout=600"]  # another install may hold the lock (make test readies Docker)
    for cmd in (["apt-get", *wait, "update", "-qq"],
                ["apt-get", *wait, "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrowserUnavailable(f"`{' '.join(cmd)}` failed: {done.stderr.strip()[-300:]}")
    path = shutil.which("chromium")
    if not path:
        raise BrowserUnavailable("apt-get installed chromium but there is no `chromium` on PATH")
    return path


class Browser:
    """One headless Chromium with one page. `with Browser() as b: b.open(url); b.evaluate("...")`."""

    def __init__(self, width: int = 1280, height: int = 900, timeout_s: float = 30.0, binary: str | None = None):
        self.width, self.height, self.timeout_s = width, height, timeout_s
        self.binary = binary or find_chromium()
        self.errors: list[str] = []  # console errors, uncaught exceptions, failed loads
        self.requests: list[str] = []  # every URL the page asked for
        self._ids = itertools.count(1)
        self._profile: tempfile.TemporaryDirectory | None = None
        self._proc: subprocess.Popen | None = None
        self._ws: websocket.WebSocket | None = None

    # -- lifecycle
    def __enter__(self) -> Browser:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="foodlab-chromium-")
        profile = Path(self._profile.name)
        argv = [self.binary, "--headless=new", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-dev-shm-usage", "--mute-audio",
                f"--window-size={self.width},{self.height}", "--hide-scrollbars",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                f"--user-data-dir={profile}", "about:blank"]
        if os.geteuid() == 0:
            argv.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = self._debug_port(profile / "DevToolsActivePort")
        targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
        page = next(t for t in targets if t.get("type") == "page")
        self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=self.timeout_s,
                                               suppress_origin=True)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")

    def _debug_port(self, active_port: Path) -> int:
        """Chromium writes the port it chose (we ask for any free one) to DevToolsActivePort in its profile."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrowserUnavailable(f"chromium exited at start with status {self._proc.returncode}")
            if active_port.exists():
                first = active_port.read_text().split("\n", 1)[0].strip()
                if first.isdigit():
                    return int(first)
            time.sleep(0.05)
        raise BrowserUnavailable(f"chromium did not open its DevTools port within {self.timeout_s:.0f} s")

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close()
            except OSError:
                pass
            self._ws = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    # -- the protocol
    def send(self, method: str, params: dict | None = None) -> dict:
        """Call a DevTools method and return its result; events that arrive meanwhile are recorded."""
        assert self._ws is not None, "the browser is not started"
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        while True:
            msg = json.loads(self._ws.recv())
            if msg.get("id") == call_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def _event(self, msg: dict) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description", "")))
                                                      for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append("exception: " + str(details.get("exception", {}).get("description")
                                                   or details.get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            self.requests.append(params.get("request", {}).get("url", ""))
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            self.errors.append(f"load failed: {params.get('errorText')}")

    def pump(self, seconds: float) -> None:
        """Read events for `seconds` (the page keeps running; its console errors are recorded)."""
        assert self._ws is not None
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._ws.settimeout(left)
            try:
                self._event(json.loads(self._ws.recv()))
            except websocket.WebSocketTimeoutException:
                break
            finally:
                self._ws.settimeout(self.timeout_s)

    # -- what tests and the demo use
    def open(self, url: str) -> None:
        """Navigate and return once the page has loaded."""
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'")

    def blank(self) -> None:
        """Leave the page (its script stops polling) and forget what it logged and asked for."""
        self.open("about:blank")
        self.errors.clear()
        self.requests.clear()

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout_s: float | None = None, interval_s: float = 0.25) -> Any:
        """Poll a JavaScript expression until it is truthy; its value, or TimeoutError naming it."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.timeout_s)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true within the timeout: {expression}")
            self.pump(interval_s)

    def text(self, selector: str) -> str | None:
        return self.evaluate(f"(e => e && e.textContent)(document.querySelector({json.dumps(selector)}))")

    def metric(self, name: str) -> str | None:
        """The text of the page's `data-metric="<name>"` element."""
        return self.text(f'[data-metric="{name}"]')

    def wait_metric(self, name: str, predicate: str, timeout_s: float | None = None) -> str:
        """Wait until `predicate` (JavaScript over `v`, the element's text) holds; returns the text."""
        sel = json.dumps(f'[data-metric="{name}"]')
        self.wait_for(f"(v => v !== null && ({predicate}))"
                      f"((e => e && e.textContent)(document.querySelector({sel})))", timeout_s)
        return self.metric(name) or ""

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
