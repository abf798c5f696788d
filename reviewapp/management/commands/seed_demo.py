from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from reviewapp.access import grant_owner_role
from reviewapp.experiments import create_experiment, flag_pair_leaks
from reviewapp.models import Experiment
from reviewapp.uploads import import_upload

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo_data" / "tulu1_demo_pairs.jsonl"
DEMO_SLUG = "demo-tulu65b-vs-chatgpt"
# What the demo's reviewers see instead of its name (which names both models).
DEMO_REVIEWER_TITLE = "Which answer is better?"
OWNER = ("owner", "owner-demo-pass")
REVIEWERS = [("alice", "alice-demo-pass"), ("bob", "bob-demo-pass"), ("carol", "carol-demo-pass")]
INSTRUCTIONS = """Compare the two answers to the prompt. For each dimension pick the better one,
or *tie* when you can't tell them apart.

- **Accuracy**: is it correct?
- **Relevance**: does it answer what was asked?
- **Style**: is it clear and well written?
- **Usefulness**: would it help the person who asked?
"""


def ensure_user(username: str, password: str):
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_password(password)
        user.save()
    return user


class Command(BaseCommand):
    help = "Create demo users and a demo experiment from real Tulu 1 outputs (idempotent)."

    @transaction.atomic
    def handle(self, *args, **opts):
        owner = ensure_user(*OWNER)
        grant_owner_role(owner)
        reviewers = [ensure_user(*r) for r in REVIEWERS]
        experiment = Experiment.objects.filter(slug=DEMO_SLUG).first()
        if experiment is None:
            experiment = create_experiment(
                owner=owner,
                name="Demo: is fine-tuned Tulu 65B as good as ChatGPT?",
                reviewer_title=DEMO_REVIEWER_TITLE,
                slug=DEMO_SLUG,
                instructions=INSTRUCTIONS,
                baseline_model="chatgpt",
                status=Experiment.Status.OPEN,
                seed=20231,
            )
        elif not experiment.reviewer_title:  # seeded before reviewer-facing titles existed
            experiment.reviewer_title = DEMO_REVIEWER_TITLE
            experiment.save(update_fields=["reviewer_title"])
        experiment.reviewers.add(*reviewers)
        result = import_upload(experiment, DEMO_FILE, pairing="all")
        flag_pair_leaks(experiment)
        self.stdout.write(f"Demo experiment {experiment.slug}: {result.summary()}")
        self.stdout.write("Demo logins (username / password):")
        for username, password in [OWNER, *REVIEWERS]:
            role = "owner" if username == OWNER[0] else "reviewer"
            self.stdout.write(f"  {username:<6} / {password}   ({role})")
