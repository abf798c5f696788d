"""How long a replaced gunicorn worker takes before it answers.

Starts gunicorn (gunicorn.conf.py, one worker, SQLite in a temporary folder, DEBUG off),
waits for it to answer, then --runs times: SIGKILLs the worker and times from the kill
until the replacement answers GET /login/ (a page that needs the URLconf, the views and
the templates). Prints each time and the median. Loopback only, bounded.

    .venv/bin/python bench/bench_worker_boot.py --runs 5
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def workers(master: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text()
    return [int(pid) for pid in children.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {
            "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3",
            "SECRET_KEY": "bench-worker-boot",
            "DEBUG": "0",
            "TESTING": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "STATIC_ROOT": f"{tmp}/static",
            "SECURE_COOKIES": "0",
        }
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            subprocess.run(
                [sys.executable, "manage.py", *command],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
        port = free_port()
        env |= {"GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"}
        master = subprocess.Popen(
            [BIN / "gunicorn", "-c", "gunicorn.conf.py", "reviewapp.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}/login/"
        try:
            deadline = time.monotonic() + 60
            while not answers(url):
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not answer within 60 s")
                time.sleep(0.05)
            times = []
            for _ in range(args.runs):
                (old,) = workers(master)
                started = time.monotonic()
                os.kill(old, signal.SIGKILL)
                while True:
                    alive = workers(master)
                    if alive and alive != [old] and answers(url):
                        break
                    if time.monotonic() - started > 60:
                        raise SystemExit("no replacement worker answered within 60 s")
                    time.sleep(0.01)
                times.append(time.monotonic() - started)
                print(f"replacement answered after {times[-1]:.2f} s", flush=True)
            print(f"median {statistics.median(times):.2f} s over {len(times)} runs")
        finally:
            master.terminate()
            master.wait(15)


if __name__ == "__main__":
    main()
