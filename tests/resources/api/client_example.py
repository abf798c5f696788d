"""reviewapp API example: upload pairs, let an automatic judge review, poll, download results."""

import json
import os
import time

import requests

BASE = os.environ.get("REVIEWAPP_URL", "http://127.0.0.1:8000")
TOKEN = os.environ["REVIEWAPP_TOKEN"]  # python manage.py create_token owner
SLUG = "api-example"

owner = requests.Session()
owner.headers["Authorization"] = f"Bearer {TOKEN}"


def ok(response, *also_fine):
    """The response, or exit with the API's error ({"error", "detail", "rows"})."""
    if response.status_code >= 400 and response.status_code not in also_fine:
        raise SystemExit(
            f"{response.request.method} {response.url}: {response.status_code} {response.text}"
        )
    return response


# 1. An experiment (409 when it exists already: this script can run again).
ok(
    owner.post(
        f"{BASE}/api/experiments",
        json={
            "name": "API example: tuned vs base",
            "slug": SLUG,
            "dimensions": ["overall", "accuracy"],
            "reviews_per_pair": 3,
            "baseline_model": "base-7b",
            "allow_tie": True,
        },
    ),
    409,
)

# 2. Pairs as JSONL (CSV works too, or a multipart "file"). All or nothing; uploading the
#    same pairs again changes nothing.
pairs = [
    {
        "pair_id": f"q{i}",
        "prompt": prompt,
        "model_a": "base-7b",
        "output_a": base,
        "model_b": "tuned-7b",
        "output_b": tuned,
    }
    for i, (prompt, base, tuned) in enumerate(
        [
            ("What is 2 + 2?", "4", "2 + 2 = 4."),
            ("Name a prime number.", "9", "7 is a prime number."),
            ("Capital of France?", "Paris", "The capital of France is Paris."),
        ]
    )
]
body = "".join(json.dumps(pair) + "\n" for pair in pairs)
imported = ok(
    owner.post(
        f"{BASE}/api/experiments/{SLUG}/pairs",
        data=body.encode(),
        headers={"Content-Type": "application/x-ndjson"},
    )
).json()
print(imported["summary"])
ok(owner.post(f"{BASE}/api/experiments/{SLUG}/open"))

# 3. An automatic judge, with its own token, reviews blind: it sees the prompt and the two
#    outputs as "left" and "right", never the model names.
judge = ok(
    owner.post(
        f"{BASE}/api/experiments/{SLUG}/reviewers",
        json={"name": "length-judge", "kind": "automatic"},
    )
).json()
judge_session = requests.Session()
judge_session.headers["Authorization"] = f"Bearer {judge['token']}"
while True:
    task = ok(judge_session.get(f"{BASE}/api/review/{SLUG}/next"))
    if task.status_code == 204:  # nothing left for this judge
        break
    task = task.json()
    # Call your model here; this judge simply prefers the longer answer.
    pick = "left" if len(task["left"]) >= len(task["right"]) else "right"
    ok(
        judge_session.post(
            f"{BASE}/api/review/{SLUG}/assignments/{task['assignment']}",
            json={
                "choices": {dimension: pick for dimension in task["dimensions"]},
                "rationale": "The longer answer explains more.",
            },
        )
    )

# 4. Poll progress while people review in the browser (up to WAIT_SECONDS).
deadline = time.monotonic() + float(os.environ.get("WAIT_SECONDS", "10"))
while True:
    progress = ok(owner.get(f"{BASE}/api/experiments/{SLUG}")).json()["progress"]
    print(
        f"Progress: {progress['reviews_done']}/{progress['reviews_needed']} reviews "
        f"({progress['percent_done']} %)"
    )
    if progress["percent_done"] >= 100 or time.monotonic() >= deadline:
        break
    time.sleep(2)

# 5. Results (humans only unless include_automatic) and the judgments, streamed to a file.
results = ok(
    owner.get(f"{BASE}/api/experiments/{SLUG}/results", params={"include_automatic": "true"})
).json()
print(results["verdict"])
with owner.get(f"{BASE}/api/experiments/{SLUG}/judgments.csv", stream=True) as response:
    ok(response)
    with open(f"{SLUG}-judgments.csv", "wb") as out:
        for chunk in response.iter_content(chunk_size=65536):
            out.write(chunk)
print(f"Saved {SLUG}-judgments.csv")
