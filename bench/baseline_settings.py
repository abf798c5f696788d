"""Bench only: the project's settings with the baseline URLconf (bench/baseline_app.py).

Never used by the app: bench_review_loop.py starts a second gunicorn with
DJANGO_SETTINGS_MODULE=baseline_settings and --pythonpath bench.
"""

from reviewapp.settings import *  # noqa: F403

ROOT_URLCONF = "baseline_app"
