"""gunicorn settings shared by every Flask service, native and in containers (bind/workers come from the command line)."""
# gthread with a deadline for receiving each request (HTTP_REQUEST_TIMEOUT_S): slow clients cannot hold threads.
worker_class = "common.gunicorn_worker.DeadlineThreadWorker"
# Threads keep HTTP/1.1 connections alive between services, so a requests.Session reuses them.
keepalive = 30
timeout = 60
graceful_timeout = 3  # in-flight requests get 3 s on stop; an injected 8 s delay is cut short
accesslog = None  # the app logs each request as JSON
errorlog = "-"
loglevel = "warning"


def worker_exit(server, worker):
    """The service's background workers (common.process.wsgi) finish what they hold and disconnect."""
    from common.process import stop_workers

    stop_workers()
