#!/usr/bin/env python
import os
import sys
from pathlib import Path

# `make run` writes .env (DEBUG=1 and a generated SECRET_KEY, git-ignored) so that the
# commands in the README run as written afterwards. Variables already set win; production
# servers (gunicorn, reviewapp/wsgi.py) never read this file.
LOCAL_ENV = Path(__file__).resolve().parent / ".env"


def read_local_env(path: Path = LOCAL_ENV) -> None:
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name and not name.startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())


if __name__ == "__main__":
    read_local_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
