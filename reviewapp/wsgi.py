import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
application = get_wsgi_application()

# Import the URLconf, and with it every view, the API's schemas, pandas and scipy, now:
# under gunicorn's preload_app the master does it once and each new worker starts with
# them, instead of importing them while its first request waits (bench_worker_boot.py).
_ = get_resolver().url_patterns
