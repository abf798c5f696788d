"""Benchmark: peak memory of checking hostile and large uploads (the preview pass).

    .venv/bin/python bench/bench_upload_memory.py                      # every case
    .venv/bin/python bench/bench_upload_memory.py --cases columns,short_wide --scale 0.1

Writes each file once into a temporary folder, then checks it with uploads.preview_upload
(the background check job's work: every row parsed and validated, nothing written) in a
child process of its own, against a fresh SQLite database, and reports what the child
reports: the outcome (pairs, or the refusal's first line), the wall time, its RSS before
the check (Python, Django) and its peak RSS (VmHWM). Cases:

- short_wide:   12,000,000 short wide CSV rows, gzip (issue 17's first bomb: ~68 MB .csv.gz)
- short_long:   the same rows in the long format (4 rows per prompt, 3,000,000 prompts)
- columns:      a gzip of a CSV whose header has 6,000,000 columns (issue 17's ~13 MB bomb)
- json_values:  a JSONL line of 20,000,000 numbers in one array (a 40 MB line)
- long_rows:    a valid wide CSV of ~480 MB (outputs of 2-20 KB), gzip, under the limit

--scale shrinks the row counts (0.1: a tenth) for a quick look. Memory per MB of input
is (peak - before) / decompressed MB. Figures go to bench/README.md.
"""

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ("short_wide", "short_long", "columns", "json_values", "long_rows")


def write_short_wide(path: Path, scale: float) -> None:
    with gzip.open(path, "wt", compresslevel=6, newline="") as out:
        out.write("pair_id,prompt,model_a,output_a,model_b,output_b\n")
        for i in range(int(12_000_000 * scale)):
            out.write(f"{i},p{i % 97},a,x{i % 13},b,y\n")


def write_short_long(path: Path, scale: float) -> None:
    with gzip.open(path, "wt", compresslevel=6, newline="") as out:
        out.write("prompt_id,prompt,model,output\n")
        for i in range(int(3_000_000 * scale)):
            for model in "abcd":
                out.write(f"{i},p{i % 97},{model},x{i % 13}\n")


def write_columns(path: Path, scale: float) -> None:
    n = int(6_000_000 * scale)
    with gzip.open(path, "wt", compresslevel=9, newline="") as out:
        out.write(",".join(f"c{i}" for i in range(n)) + "\n")
        out.write(",".join("1" for _ in range(n)) + "\n")


def write_json_values(path: Path, scale: float) -> None:
    n = int(20_000_000 * scale)
    with gzip.open(path, "wt", compresslevel=6) as out:
        out.write('{"prompt": "p", "model_a": "a", "output_a": "x", "model_b": "b", ')
        out.write('"output_b": "y", "scores": [' + ",".join("0" for _ in range(n)) + "]}\n")


def write_long_rows(path: Path, scale: float) -> None:
    rng = random.Random(17)
    words = "lorem ipsum dolor sit amet, consectetur adipiscing elit sed do eiusmod".split()
    pool = " ".join(rng.choice(words) for _ in range(400_000))
    target = int(480_000_000 * scale)
    written, i = 0, 0
    with gzip.open(path, "wt", compresslevel=6, newline="") as out:
        out.write("pair_id,prompt,model_a,output_a,model_b,output_b\n")
        while written < target:
            a, b = rng.randrange(len(pool) - 20_000), rng.randrange(len(pool) - 20_000)
            output_a = pool[a : a + rng.randint(2000, 20000)]
            output_b = pool[b : b + rng.randint(2000, 20000)]
            row = f'{i},"prompt {i}: {pool[a : a + 200]}",alpha,"{output_a}",beta,"{output_b}"\n'
            out.write(row)
            written += len(row)
            i += 1


WRITERS = {
    "short_wide": (write_short_wide, "csv.gz"),
    "short_long": (write_short_long, "csv.gz"),
    "columns": (write_columns, "csv.gz"),
    "json_values": (write_json_values, "jsonl.gz"),
    "long_rows": (write_long_rows, "csv.gz"),
}


def decompressed_bytes(path: Path) -> int:
    total = 0
    with gzip.open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            total += len(chunk)
    return total


def vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def vm_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(path: str) -> None:
    """Checks one file against a fresh experiment; prints one JSON line."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User

    from reviewapp.experiments import create_experiment
    from reviewapp.uploads import UploadError, preview_upload

    owner = User.objects.create(username=f"bench-{os.getpid()}")
    experiment = create_experiment(owner=owner, name="memory bench", slug=f"m{os.getpid()}")
    before = vm_rss_mib()
    started = time.monotonic()
    try:
        result = preview_upload(experiment, path, name=Path(path).name)
        outcome = result.summary()
    except UploadError as refused:
        outcome = "refused: " + "; ".join(str(e) for e in refused.errors[:2])
    seconds = time.monotonic() - started
    print(
        json.dumps({"outcome": outcome, "seconds": seconds, "before": before, "peak": vm_hwm_mib()})
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-upload-memory-") as folder:
        folder = Path(folder)
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
            "REVIEWAPP_UPLOAD_DIR": str(folder / "scratch"),
        }
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
        print(
            "| case | file MB | decompressed MB | outcome | seconds | RSS before MiB "
            "| peak RSS MiB | MiB per decompressed MB |"
        )
        print("|---|---:|---:|---|---:|---:|---:|---:|")
        for case in args.cases.split(","):
            write, suffix = WRITERS[case]
            path = folder / f"{case}.{suffix}"
            write(path, args.scale)
            size, raw = path.stat().st_size / 1e6, decompressed_bytes(path) / 1e6
            try:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(path)],
                    env=env, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout,
                )  # fmt: skip
                report = json.loads(out.stdout.strip().splitlines()[-1])
            except (subprocess.TimeoutExpired, IndexError, ValueError) as exc:
                print(f"| {case} | {size:.1f} | {raw:.1f} | failed: {exc!s:.80} | | | | |")
                continue
            per_mb = (report["peak"] - report["before"]) / raw
            print(
                f"| {case} | {size:.1f} | {raw:.1f} | {report['outcome'][:110]} | "
                f"{report['seconds']:.1f} | {report['before']:.0f} | {report['peak']:.0f} | "
                f"{per_mb:.2f} |",
                flush=True,
            )
            path.unlink()


if __name__ == "__main__":
    main()
