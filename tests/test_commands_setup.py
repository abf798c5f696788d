"""What a newcomer runs after `make run`: the local .env that manage.py reads, and
create_owner."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from reviewapp.access import can_own_experiments
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parent.parent


def run_manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """manage.py copied into tmp_path (so it reads tmp_path/.env), the project on the path,
    and an environment without DEBUG or SECRET_KEY, as after `make run` in a new shell."""
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    env |= {"TESTING": "0", "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{tmp_path}/db"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, str(tmp_path / "manage.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_reads_the_local_env_file_written_by_make_run(tmp_path):
    refused = run_manage(tmp_path, "check")
    assert refused.returncode != 0
    assert "SECRET_KEY must be set" in refused.stderr
    (tmp_path / ".env").write_text("DEBUG=1\nSECRET_KEY=local-test-key\n")
    accepted = run_manage(tmp_path, "check")
    assert accepted.returncode == 0, accepted.stderr


def test_make_run_writes_the_env_file_and_git_ignores_it():
    makefile = (ROOT / "Makefile").read_text()
    assert "run: $(VENV)/.installed .env" in makefile
    assert "/.env" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.django_db
def test_create_owner_creates_a_user_with_the_owner_role_and_prints_the_password(capsys):
    call_command("create_owner", "ines")
    out = capsys.readouterr().out
    user = get_user_model().objects.get(username="ines")
    assert can_own_experiments(user)
    password = out.split("Password (shown once): ")[1].strip()
    assert user.check_password(password)


@pytest.mark.django_db
def test_create_owner_grants_the_role_to_an_existing_reviewer():
    reviewer = make_user("rita")
    assert not can_own_experiments(reviewer)
    call_command("create_owner", "rita")
    reviewer = get_user_model().objects.get(pk=reviewer.pk)  # a fresh permission cache
    assert can_own_experiments(reviewer)


@pytest.mark.django_db
def test_create_owner_refuses_a_password_for_an_existing_user():
    make_user("rita")
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_owner", "rita", "--password", "x")
