"""gunicorn settings for the web process (`gunicorn -c deploy/gunicorn.conf.py 'consular.app:create_app()'`).

Web processes never run a scheduler; run `consular worker` under its own systemd unit.
"""

import multiprocessing
import os

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
