"""Minimal Flask apps: the bare HTTP baselines that benchmarks compare the services against.

`create_app()` answers `POST /echo` with its body (one bare hop). `relay_app()` answers `POST /relay` after posting
the body to each URL of `ECHO_DOWNSTREAM` (comma-separated) in turn on pooled keep-alive sessions, the shape of
Part A's order service calling inventory and then notification with nothing else around it: three bare hops.
"""
import os

import requests
from flask import Flask, jsonify, request
from requests.adapters import HTTPAdapter


def create_app():
    app = Flask("echo")

    @app.post("/echo")
    def echo():
        return jsonify(request.get_json(silent=True) or {}), 201

    @app.get("/health")
    def health():
        return jsonify({"status": "ok"})

    return app


def relay_app(downstream: str | None = None):
    urls = [u.rstrip("/") + "/echo" for u in (downstream or os.environ.get("ECHO_DOWNSTREAM", "")).split(",") if u]
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=len(urls) or 1, pool_maxsize=128, max_retries=0))
    app = create_app()

    @app.post("/relay")
    def relay():
        body = request.get_json(silent=True) or {}
        for url in urls:
            try:
                status = session.post(url, json=body, timeout=(3, 30)).status_code
            except requests.RequestException as exc:
                return jsonify({"error": "downstream_unavailable", "detail": f"{url}: {type(exc).__name__}"}), 502
            if status != 201:
                return jsonify({"error": "downstream_failed", "detail": f"{url} answered {status}"}), 502
        return jsonify(body), 201

    return app
