"""gunicorn settings shared by every Flask service, native and in containers (bind/workers come from the command line)."""
import os
import shutil
import tempfile

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

    app = getattr(worker, "wsgi", None)  # the app this worker loaded (common.process.wsgi); none if loading failed
    if app is not None:
        stop_workers(app)


_made: list[str] = []  # a metrics directory this server made for itself (removed when it exits)


def metrics_dir(environ=os.environ) -> str:
    """The directory of this server's metric files (prometheus_client's multiprocess mode): PROMETHEUS_MULTIPROC_DIR
    as the native runtime sets it (under the part's .run/ folder), else a fresh temporary one (containers).
    Set in `environ` before any worker imports prometheus_client, which reads it once, at import."""
    path = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = tempfile.mkdtemp(prefix="prometheus-")
        _made.append(path)
    environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def on_starting(server):
    """In the master, before the workers fork: an empty metrics directory, so a scrape sums this run's workers only."""
    path = metrics_dir()
    from common.metrics import prepare_multiprocess_dir  # after the variable is set: prometheus_client reads it at import

    prepare_multiprocess_dir(path)


def child_exit(server, worker):
    """In the master: a worker that ended (even killed) leaves the live gauges; its counters still count."""
    from common.metrics import mark_worker_dead

    mark_worker_dead(worker.pid)


def on_exit(server):
    for path in _made:
        shutil.rmtree(path, ignore_errors=True)
    _made.clear()
