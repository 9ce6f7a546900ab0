"""Flask helpers every HTTP service uses: JSON errors for every 4xx/5xx, `/health`, a body size limit, JSON parsing."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import orjson
from flask import Flask, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .logs import bind
from .metrics import instrument
from .schemas import InvalidInput

log = logging.getLogger("http")


def error(http_status: int, code: str, detail: str, /, **extra):
    """The contract's error body: {"error": code, "detail": text} plus any extra fields."""
    return jsonify({"error": code, "detail": detail, **extra}), http_status


def parse_json(raw: bytes | str) -> Any:
    """Decode untrusted JSON; anything that is not plain JSON is a ValueError, never another exception.

    orjson, not the standard library: `json.loads` raises RecursionError (not ValueError) on a deeply
    nested body such as 60 KB of `[[[[`, accepts NaN/Infinity and lone surrogates, and turns a 5,000-digit
    number into a ValueError only by accident of int-conversion limits. orjson refuses nesting deeper
    than 1024, non-finite numbers, invalid UTF-8 and lone surrogates with `JSONDecodeError` (a ValueError).
    """
    return orjson.loads(raw)


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with `parse_json` for input, so `request.get_json()` anywhere is safe too."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse_json(s)


def json_body() -> Any:
    """The request body decoded as JSON, or InvalidInput (400) when it is not JSON (any content type)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise InvalidInput("invalid_json", "the body is empty; send a JSON object")
    try:
        return parse_json(raw)
    except ValueError as err:
        raise InvalidInput("invalid_json", f"the body is not valid JSON: {err}") from None


def create_base_app(name: str, settings, health: Callable[[], dict] | None = None,
                    metrics_route: bool = True) -> Flask:
    """A Flask app with the shared behaviour; `health` returns extra fields for /health (raise to say not ready).
    Every request is counted in the Prometheus metrics (`common.metrics`); `GET /metrics` serves them, unless
    `metrics_route` is False (the service serves /metrics itself, e.g. with `common.metrics.metrics_response`)."""
    app = Flask(name)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = StrictJSONProvider(app)
    app.json.sort_keys = False

    @app.errorhandler(InvalidInput)
    def _invalid(err: InvalidInput):
        return error(400, err.code, err.detail)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        code = (err.name or "error").lower().replace(" ", "_").replace("'", "")
        return error(err.code or 500, code, err.description or err.name)

    @app.errorhandler(ParseException)
    def _unreadable(err: ParseException):
        """gunicorn refuses a malformed body while the app reads it (a bad chunk size): the client's fault."""
        return error(400, "bad_request", f"the body could not be read: {err}")

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error")
        return error(500, "internal_error", f"{type(err).__name__}: the service failed to handle this request")

    @app.get("/health")
    def _health():
        try:
            extra = health() if health else {}
        except Exception as exc:  # not ready yet: say why, with 503
            return error(503, "not_ready", str(exc), service=name, status="starting")
        return jsonify({"status": "ok", "service": name, **extra})

    instrument(app, route=metrics_route)

    @app.before_request
    def _start():
        g.t0 = time.perf_counter()
        if (request.content_length or 0) > settings.max_body_bytes:
            raise RequestEntityTooLarge(f"the body is larger than {settings.max_body_bytes} bytes")
        g.log_ctx = bind(method=request.method, path=request.path)
        g.log_ctx.__enter__()

    @app.teardown_request
    def _end(_exc):
        ctx = g.pop("log_ctx", None)
        if ctx is not None:
            ctx.__exit__(None, None, None)

    @app.after_request
    def _access(resp):
        if request.path != "/health":
            ms = (time.perf_counter() - g.get("t0", time.perf_counter())) * 1000
            ids = {k: g.get(k) for k in ("order_id", "event_id") if g.get(k)}
            log.info("%s %s -> %s", request.method, request.path, resp.status_code,
                     extra={"status": resp.status_code, "ms": round(ms, 2), **ids})
        return resp

    return app


def stock_routes(app: Flask, store, settings) -> None:
    """The inventory endpoints every part shares: `GET /stock`, `GET /reservations`, and with ADMIN_API=true
    `GET /admin/status` and `POST /admin/reset`."""

    @app.get("/stock")
    def stock():
        return jsonify(store.snapshot())

    @app.get("/reservations")
    def reservations():
        """Durable outcome counts (one record per processed key), units reserved per item, first/last times."""
        first, last = store.time_span()
        return jsonify({"counts": store.counts(), "reserved_units": store.reserved_units(),
                        "stock": store.snapshot(), "first_at": first, "last_at": last})

    if not settings.admin_api:
        return  # ADMIN_API=false (the default): no admin endpoint exists, so they answer 404 like any unknown path

    @app.get("/admin/status")
    def admin_status():
        return jsonify({"admin_api": True})

    @app.post("/admin/reset")
    def reset():
        body = json_body() if request.get_data() else {}
        wanted = body.get("stock") if isinstance(body, dict) else None
        if wanted is not None and not (isinstance(wanted, dict) and wanted and all(
                isinstance(k, str) and type(v) is int and v >= 0 for k, v in wanted.items())):
            raise InvalidInput("validation_error", "stock: a non-empty object of item -> non-negative integer")
        snapshot = store.reset(wanted) if wanted else store.reset()
        log.info("stock reset", extra={"stock": snapshot})
        return jsonify(snapshot)
