"""The dashboard service of a part (port 6003): the page, and `GET /api/state`, the JSON the page polls.

Each part's `dashboard` module declares its Board and runs `main(BOARD)`: one process, the sampler in a thread
beside the shared in-process HTTP server (`common.process.serve`: waitress, bounded threads), as the consumers.
"""
from __future__ import annotations

import math
from html import escape
from importlib import resources

import requests
from flask import Response, jsonify, request

from ..logs import setup_logging
from ..process import serve
from ..schemas import InvalidInput
from ..settings import Settings, get_settings
from ..web import create_base_app
from .board import Board, Fetch, Sampler

SCRAPE_TIMEOUT_S = 2.0  # Part C's entry service waits up to 1 s on Kafka for its lag figures
ACCEPT = "text/plain;version=0.0.4"  # Prometheus's text format (Part C's analytics answers JSON otherwise)


def page(board: Board) -> str:
    """The page: one self-contained HTML file (its script and style inline), the board's layout filled in."""
    import orjson

    html = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    layout = {"part": board.part, "title": board.title,
              "figures": [{"name": f.name, "label": f.label, "unit": f.unit,
                           "words": {str(k): v for k, v in (f.words or {}).items()}} for f in board.figures],
              "charts": [{"title": c.title, "figures": list(c.figures)} for c in board.charts]}
    # the layout as a JSON island: `</` escaped so no value can close the script element
    return (html.replace("{{title}}", escape(board.title))
                .replace("{{layout}}", orjson.dumps(layout).decode().replace("</", "<\\/")))


def http_fetch(settings: Settings, board: Board) -> Fetch:
    """fetch(source, path) over HTTP to the service's URL (the Settings field the board names)."""
    session = requests.Session()
    bases = {name: getattr(settings, field).rstrip("/") for name, field in board.sources.items()}

    def fetch(source: str, path: str) -> tuple[int, str]:
        r = session.get(bases[source] + path, headers={"Accept": ACCEPT} if path == "/metrics" else {},
                        timeout=SCRAPE_TIMEOUT_S)
        return r.status_code, r.text

    return fetch


def create_app(settings: Settings, board: Board, sampler: Sampler):
    app = create_base_app(f"{board.part}-dashboard", settings, health=lambda: {"part": board.part})
    body = page(board)

    @app.get("/")
    def index():
        return Response(body, mimetype="text/html", headers={
            "Cache-Control": "no-store",
            # nothing from elsewhere: the page's own inline script and style, its JSON from this origin
            "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
                                       "style-src 'unsafe-inline'; connect-src 'self'; img-src data:"})

    @app.get("/api/state")
    def state():
        raw = request.args.get("since")
        since = None
        if raw is not None:
            try:
                since = float(raw)
            except ValueError:
                raise InvalidInput("validation_error", "since: a Unix time in seconds") from None
            if not math.isfinite(since):
                raise InvalidInput("validation_error", "since: a finite Unix time in seconds")
        return jsonify(sampler.state(since))

    return app


def build(settings: Settings, board: Board, fetch: Fetch | None = None):
    sampler = Sampler(board, fetch or http_fetch(settings, board), interval_s=settings.dashboard_interval_s,
                      idle_s=settings.dashboard_idle_s, history_s=settings.dashboard_history_s)
    return create_app(settings, board, sampler), [sampler]


def main(board: Board) -> int:
    settings = get_settings()
    name = f"{board.part}-dashboard"
    setup_logging(name, settings.log_level, settings.log_format)
    app, workers = build(settings, board)
    return serve(name, app, workers, settings, settings.dashboard_port)
