"""gunicorn settings for the web process (`gunicorn -c deploy/gunicorn.conf.py 'consular.app:create_app()'`).

Web processes never run a scheduler; run `consular worker` under its own systemd unit.
"""

import faulthandler
import multiprocessing
import os
import tempfile
from pathlib import Path

bind = os.environ.get("CONSULAR_BIND", "127.0.0.1:8000")  # nginx in front; never expose directly
workers = int(os.environ.get("CONSULAR_WEB_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("CONSULAR_WEB_THREADS", "4"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
keepalive = 5
max_requests = 2000  # recycle workers now and then
max_requests_jitter = 200
forwarded_allow_ips = "127.0.0.1"  # nginx on the same host; set TRUSTED_PROXIES=1 in the app too
accesslog = "-"
# No query strings in the access log: search terms can be names or phone numbers.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss rid=%({x-request-id}o)s'
errorlog = "-"

# A worker that dies of a signal (SIGSEGV, SIGABRT…) prints every thread's Python stack to the
# error log first, so a crash names where it happened.
faulthandler.enable()

# The per-process metrics (the webhook latency histogram) are kept in files in one folder that every
# worker writes and /metrics sums (prometheus-client's multiprocess mode), so a scrape sees all the
# workers, not the one that happened to answer. The variable is set here, in the master, before any
# worker imports prometheus_client; a reload (SIGHUP) keeps the folder. Without one given, a private
# folder under the temporary directory.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="consular-metrics-")


def on_starting(server):
    """Start from an empty metrics folder: files left by an earlier run would be counted again."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def post_fork(server, worker):
    faulthandler.enable()  # in the worker itself too (its stderr is the error log)


def post_worker_init(worker):
    """Connect this worker's threads to the database before its first request (see warm_up)."""
    from config import EXTENSION

    app = worker.wsgi
    if EXTENSION in getattr(app, "extensions", {}):  # the app, not another WSGI callable
        from consular.app import warm_up

        warm_up(app, threads)


def child_exit(server, worker):
    """A worker has exited: its live gauges go (its counters and histograms stay in the sums)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
