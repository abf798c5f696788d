"""What a newcomer runs after `make run`: the local .env that manage.py reads, and
create_owner."""

import os
import re
import shlex
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


def readme_shell_commands() -> list[str]:
    """The commands of README.md's fenced sh blocks, continuation lines joined, comments
    dropped."""
    readme = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", readme, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def make_run_setup() -> list[list[str]]:
    """What `make run` does with manage.py before it serves (migrate, demo data)."""
    recipe = (ROOT / "Makefile").read_text().split("\nrun:")[1].split("\n\n")[0]
    return [
        shlex.split(line.strip().split("manage.py", 1)[1])
        for line in recipe.splitlines()
        if "$(PY) manage.py" in line and not re.search(r"runserver|db_worker", line)
    ]


def test_the_readme_commands_run_as_written_after_make_run(tmp_path):
    """Every manage.py command in the README's sh blocks, run as written (the venv's Python
    standing for .venv/bin/python) after make run's setup and its .env, exits 0. Long-running
    ones (runserver, db_worker) and make itself are left out."""
    (tmp_path / ".env").write_text("DEBUG=1\nSECRET_KEY=readme-test-key\n")  # as make writes it
    (tmp_path / "reviewapp").symlink_to(ROOT / "reviewapp")  # paths relative to the project
    setup = make_run_setup()
    assert ["migrate", "--noinput"] in setup and ["seed_demo"] in setup
    for args in setup:
        done = run_manage(tmp_path, *args)
        assert done.returncode == 0, (args, done.stderr)
    ran = []
    for command in readme_shell_commands():
        words = shlex.split(command)
        if "manage.py" not in command or {"runserver", "db_worker"} & set(words):
            continue
        assert words[:2] == [".venv/bin/python", "manage.py"], command
        done = run_manage(tmp_path, *words[2:])
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        ran.append(words[2])
    assert {"create_owner", "create_token", "import_judgments"} <= set(ran), ran
    assert (tmp_path / "judgments.csv").read_text().count("llm-judge") == 60
