"""gunicorn for reviewapp: `gunicorn -c gunicorn.conf.py reviewapp.wsgi`.

Chosen by measurement on the reference machine (2 cores, PostgreSQL on the same box;
bench/bench_review_loop.py, figures in bench/README.md). Every value
can be changed from the environment without editing this file.

GUNICORN_BIND      address to listen on (default 127.0.0.1:8000; PORT alone also works)
WEB_CONCURRENCY    worker processes (default 4)
GUNICORN_THREADS   threads per worker (default 1: sync workers)
GUNICORN_TIMEOUT   seconds before a silent worker is killed and replaced (default 30)
GUNICORN_MAX_REQUESTS  requests before a worker is replaced (default 10000)
FORWARDED_ALLOW_IPS  proxies trusted for X-Forwarded-* (default 127.0.0.1)
"""

import os

bind = os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"

# Workers: each request is short and mostly CPU in Python (templates, ORM) plus a few
# PostgreSQL round trips. On 2 cores, 4 sync workers served the review loop best: 2
# left a core idle while a worker waited on the database, 8 added context switches and
# memory without more requests/s (the database on the same cores is the other half of
# the CPU). With more cores, start at about 2 x cores and measure again.
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))

# Threads: gthread workers measured no faster here (the GIL serialises the Python part
# of each request) and make each worker hold one database connection per thread. Use
# threads only when a slow client or a long export must not tie up a whole process.
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"

# A request here takes milliseconds; the slowest (a large CSV export, streamed) keeps
# writing, which resets the timer. A worker silent for 30 s is stuck: kill and replace
# it. Its open transaction is rolled back by PostgreSQL, so nothing half-written stays.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# Behind a load balancer that reuses connections; shorter than typical LB idle timeouts
# would be wrong the other way round, so keep it small and let the LB reconnect.
keepalive = 5

# Replace each worker after about 10,000 requests (jittered so they do not all restart
# at once): bounds any slow memory growth in a long-running process. A fresh worker
# reconnects, prepares its statements and compiles its templates again, so restarts
# show up in the slowest requests: at 1,000 a worker restarted every few seconds under
# load, and the restarts set the p99 (bench/README.md).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = 1000

# Load the app once in the master and fork: less memory per worker, and a broken
# settings file fails at start instead of in every worker. Django opens no database
# connection at import, so nothing is shared across the fork.
preload_app = True

# Access log on stdout with the time each request took (%(M)s milliseconds), so the
# log alone shows latency; errors on stderr.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# The load balancer in front terminates TLS and says so in X-Forwarded-Proto; only
# trust that header from it (settings.py reads it when TRUST_X_FORWARDED_PROTO=1).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# gunicorn >= 25 opens a control socket at one fixed path per user (~/.gunicorn/): several
# servers on one machine (two apps, tests, benchmarks) would take it from each other.
# Nothing here uses it; signals (HUP, TERM, TTIN/TTOU) do the same job.
control_socket_disable = True
