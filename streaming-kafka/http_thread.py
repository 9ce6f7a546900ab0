"""A consumer process's small HTTP side (`/health`, `/stock`, `/metrics`): a werkzeug server in a daemon thread."""
from __future__ import annotations

import threading

from werkzeug.serving import make_server


def serve_in_thread(app, host: str, port: int):
    """Start serving `app` on host:port in the background; call `.shutdown()` on the result to stop."""
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name=f"http-{port}", daemon=True).start()
    return server
