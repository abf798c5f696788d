"""One settings file: zero-setup SQLite for a first run, everything else from the environment.

DATABASE_URL   postgres://user@host:5432/name (default: sqlite file db.sqlite3 in the project)
SECRET_KEY     required unless DEBUG is on
DEBUG          "1"/"true" for development (default: off)
ALLOWED_HOSTS  comma-separated (default with DEBUG: localhost, 127.0.0.1)
Production serving (README, "Serving in production"): SECURE_SSL_REDIRECT, SECURE_HSTS_SECONDS,
SECURE_HSTS_INCLUDE_SUBDOMAINS, SECURE_HSTS_PRELOAD, TRUST_X_FORWARDED_PROTO,
CSRF_TRUSTED_ORIGINS, STATIC_ROOT, CONN_MAX_AGE, SECURE_COOKIES, DB_PREPARED_STATEMENTS,
REVIEWAPP_TRUSTED_PROXIES.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_flag("DEBUG")
# The test run (pytest imports these settings) gets the development defaults too.
TESTING = env_flag("TESTING") or "pytest" in sys.modules

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # serves the API docs page's assets from its own static files, not a CDN
    "axes",  # login throttling, kept in the database so it holds across app servers
    "django_tasks",
    "django_tasks_db",  # the task queue in the database: `manage.py db_worker` runs the jobs
    "reviewapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "reviewapp.middleware.security_headers",
    "reviewapp.outages.DatabaseOutageMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: it answers a locked-out login with our page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "reviewapp.urls"
WSGI_APPLICATION = "reviewapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reviewapp.access.owner_role",
            ],
            "builtins": ["reviewapp.templatetags.untrusted", "reviewapp.templatetags.thousands"],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Persistent connections, health-checked so a restarted PostgreSQL does not
        # leave workers holding dead sockets.
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with the ORM's own batches kept under PostgreSQL's 65,535
    # parameters per statement (reviewapp/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "reviewapp.postgresql"
if DATABASES["default"]["ENGINE"] == "reviewapp.postgresql" and env_flag(
    "DB_PREPARED_STATEMENTS", True
):
    # Parameters sent apart from the query (server-side binding) let psycopg prepare the
    # statements a connection keeps repeating (from the 5th run): PostgreSQL then skips
    # parsing and planning them, most of its work on these short statements (figures in
    # bench/README.md). Behind PgBouncer in transaction mode without
    # max_prepared_statements, set DB_PREPARED_STATEMENTS=0.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A first run on SQLite serves a few people at once: wait for the write lock
    # instead of failing, and take it at the start of each transaction.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Sessions live in a signed cookie (signed with SECRET_KEY, readable by its holder, not
# changeable): a request reads no session row, and every app server can check it. The
# cost: logging out clears the browser's cookie but cannot withdraw a copy of it, which
# stays valid until it expires (SESSION_COOKIE_AGE) unless the user's password changes
# (the session carries a hash of it). Deleting or deactivating a user still signs them
# out at once: the user lookup on the next request finds nobody allowed in. Keep
# nothing secret from the user themselves in their session.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_AGE = 14 * 24 * 3600  # Django's default, written out because it matters here

# django-axes checks every login attempt before Django's ModelBackend does.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Background jobs (checking and importing large uploads) go through the database: no new
# server, on SQLite and PostgreSQL alike. `manage.py db_worker` runs them (`make run`
# starts one beside the web server).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
if TESTING:
    # Tests run a job where it is queued; tests/test_upload_jobs.py runs the real worker.
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
# A running job writes its progress at least this often; a job silent for longer than
# REVIEWAPP_JOB_STALE_SECONDS is taken for dead (its worker was killed) and marked failed.
REVIEWAPP_JOB_STALE_SECONDS = int(os.environ.get("REVIEWAPP_JOB_STALE_SECONDS", "60"))

# Login throttling (django-axes): five failures of one username from one client address
# lock that combination for 15 minutes. Keyed on both together, so one client's failures
# never lock out another client, and nobody can lock a named account out for everyone.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "reviewapp.views.accounts.locked_out"
AXES_CLIENT_IP_CALLABLE = "reviewapp.views.accounts.client_address"
AXES_USERNAME_CALLABLE = "reviewapp.views.accounts.login_username"
AXES_VERBOSE = False
# How many reverse proxies in front of the app append to X-Forwarded-For. 0 (the default):
# the header is ignored, since any client can send it, and REMOTE_ADDR is the client.
REVIEWAPP_TRUSTED_PROXIES = int(os.environ.get("REVIEWAPP_TRUSTED_PROXIES", "0"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

if TESTING:
    # Hashing test users' passwords with PBKDF2 would dominate the suite's run time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` writes here; whitenoise serves it from each app server.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Uploads: files larger than this are refused before parsing.
REVIEWAPP_MAX_UPLOAD_BYTES = int(os.environ.get("REVIEWAPP_MAX_UPLOAD_BYTES", 512 * 1024 * 1024))
# Uploaded files go to disk, not memory, past 2.5 MB (Django's default); the import streams them.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# How long a shown-but-unsubmitted assignment holds its slot.
REVIEWAPP_LEASE_MINUTES = int(os.environ.get("REVIEWAPP_LEASE_MINUTES", "30"))

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_flag("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_flag("SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env_flag("SECURE_SSL_REDIRECT", False)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_flag("SECURE_HSTS_PRELOAD", False)
# Behind a load balancer that terminates TLS: believe its X-Forwarded-Proto (and only
# then: a client could send the header itself when nothing in front overwrites it).
if env_flag("TRUST_X_FORWARDED_PROTO"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
