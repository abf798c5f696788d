"""Benchmark: one large upload through the web page, as an owner does it (issue 17).

    .venv/bin/python bench/bench_web_upload.py --mb 450 --port 8175 \\
        --database postgres://postgres@127.0.0.1:5432/reviewapp_bench_web \\
        --screens /tmp/web-upload-screens

Writes a valid wide CSV of about --mb decompressed megabytes (outputs of 2-20 KB; gzip),
migrates --database (created if missing), starts gunicorn (gunicorn.conf.py, DEBUG off,
2 workers) on --port and `manage.py db_worker`, then drives Chromium (/usr/bin/chromium,
Playwright) through the pages: log in, choose the file on the upload page, "Check the
file", wait for the preview, "Import", wait for "Imported". A sampler reads the RSS of
every gunicorn and worker process every 0.2 s. Prints wall times (upload request, check,
import) and the peak RSS of the web workers and of db_worker; screenshots of the progress
bar while the check and the import run go to --screens.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_upload_memory import decompressed_bytes, write_long_rows  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "bench-web-upload-password"


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    children = [int(p) for p in out.split()]
    return children + [g for c in children for g in descendants(c)]


class Sampler(threading.Thread):
    """Peak RSS of the gunicorn workers (the master's children) and of db_worker."""

    def __init__(self, gunicorn: int, worker: int):
        super().__init__(daemon=True)
        self.gunicorn, self.worker = gunicorn, worker
        self.web_peak = self.worker_peak = 0.0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            for pid in descendants(self.gunicorn):
                self.web_peak = max(self.web_peak, rss_mib(pid))
            for pid in [self.worker, *descendants(self.worker)]:
                self.worker_peak = max(self.worker_peak, rss_mib(pid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=450)
    parser.add_argument("--port", type=int, default=8175)
    parser.add_argument("--database", required=True)
    parser.add_argument("--screens", type=Path, default=Path("web-upload-screens"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.screens.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-web-upload-"))
    env = {
        **os.environ,
        "DATABASE_URL": args.database,
        "DEBUG": "0",
        "SECRET_KEY": "bench-web-upload-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_COOKIES": "0",
        "PORT": str(args.port),
        "WEB_CONCURRENCY": "2",
        "REVIEWAPP_UPLOAD_DIR": str(folder / "uploads"),
        "STATIC_ROOT": str(folder / "static"),
    }
    name = args.database.rsplit("/", 1)[1]
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True)
    manage = [sys.executable, str(ROOT / "manage.py")]
    processes = []
    try:
        path = folder / "pairs.csv.gz"
        started = time.monotonic()
        write_long_rows(path, args.mb / 480)
        raw = decompressed_bytes(path)
        print(
            f"file: {path.stat().st_size / 1e6:.0f} MB gzip, {raw / 1e6:.0f} MB decompressed "
            f"(written in {time.monotonic() - started:.0f} s)",
            flush=True,
        )
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
        subprocess.run(
            [*manage, "collectstatic", "--noinput", "-v0"], env=env, check=True, cwd=ROOT
        )
        owner = f"bench-web-{os.getpid()}"
        subprocess.run(
            [*manage, "create_owner", owner, "--password", PASSWORD], env=env, check=True, cwd=ROOT
        )
        slug = f"web-upload-{os.getpid()}"
        setup = (
            "from django.contrib.auth.models import User; "
            "from reviewapp.experiments import create_experiment; "
            f"create_experiment(owner=User.objects.get(username={owner!r}), "
            f"name='Web upload bench', slug={slug!r})"
        )
        subprocess.run([*manage, "shell", "-c", setup], env=env, check=True, cwd=ROOT)
        log = open(folder / "servers.log", "w")  # noqa: SIM115 - closed below
        gunicorn = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
             "reviewapp.wsgi"], env=env, cwd=ROOT, stdout=log, stderr=log,
        )  # fmt: skip
        worker = subprocess.Popen([*manage, "db_worker"], env=env, cwd=ROOT, stdout=log, stderr=log)
        processes = [gunicorn, worker]
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(100):
            try:
                subprocess.run(["curl", "-sf", f"{base}/healthz"], check=True, capture_output=True)
                break
            except subprocess.CalledProcessError:
                time.sleep(0.2)
        sampler = Sampler(gunicorn.pid, worker.pid)
        sampler.start()
        times = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{base}/login/")
            page.fill("input[name=username]", owner)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{base}/owner/experiments/{slug}/upload/")
            page.set_input_files("input[type=file]", str(path))
            t0 = time.monotonic()
            page.get_by_role("button", name="Check the file").click()
            page.wait_for_url("**/jobs/**", timeout=600_000)
            times["upload request"] = time.monotonic() - t0
            shot(page, "progress", args.screens / "1-check-progress.png", 0.4)
            page.get_by_role("button", name="Import").wait_for(timeout=3_600_000)
            times["check"] = time.monotonic() - t0
            page.screenshot(path=args.screens / "2-preview.png", full_page=True)
            t1 = time.monotonic()
            page.get_by_role("button", name="Import").click()
            shot(page, "progress", args.screens / "3-import-progress.png", 0.4)
            page.get_by_role("heading", name="Imported").wait_for(timeout=3_600_000)
            times["import"] = time.monotonic() - t1
            page.screenshot(path=args.screens / "4-imported.png", full_page=True)
            summary = page.locator("section[role=status] p").first.inner_text()
            browser.close()
        sampler.stop.set()
        sampler.join()
        print(f"result: {summary}")
        for label, seconds in times.items():
            print(f"{label}: {seconds:.1f} s")
        print(f"peak RSS, web workers: {sampler.web_peak:.0f} MiB")
        print(f"peak RSS, db_worker: {sampler.worker_peak:.0f} MiB")
    except BaseException:
        if (folder / "servers.log").exists():
            print((folder / "servers.log").read_text()[-3000:])
        raise
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def shot(page, selector: str, path: Path, fraction: float) -> None:
    """A screenshot once the progress bar has passed `fraction` of the file."""
    bar = page.locator(f"progress.{selector}[max='1000']")
    bar.wait_for(timeout=600_000)
    deadline = time.monotonic() + 3_600
    while time.monotonic() < deadline:
        try:
            value = int(bar.get_attribute("value", timeout=5_000) or 0)
        except Exception:  # the bar was replaced between two reads (htmx swap) or is gone
            value = 0
            if not page.locator(f"progress.{selector}").count():
                return
        if value >= fraction * 1000:
            page.screenshot(path=path, full_page=True)
            return
        time.sleep(0.5)


if __name__ == "__main__":
    main()
