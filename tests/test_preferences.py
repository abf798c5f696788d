"""Preference data export: which pairs go in, as what, and why the others do not."""

import io
import json
from datetime import timedelta
from fractions import Fraction

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reviewapp.models import Assignment, Judgment, Membership, Pair
from reviewapp.preferences import (
    PreferenceError,
    PreferenceFilter,
    parse_agreement,
    preference_lines,
    summarise,
)
from reviewapp.tokens import create_token
from tests.conftest import make_experiment, make_user

# pair id -> choices on "overall" by three reviewers ("A", "B", "tie"); None = no judgment.
VOTES = {
    "p00000": ["A", "A", "A"],  # unanimous A
    "p00001": ["B", "B", "A"],  # 2 of 3 for B
    "p00002": ["A", "B", "tie"],  # split 1-1 (with a tie)
    "p00003": ["tie", "tie", "A"],  # mostly tie
    "p00004": ["A", "B", None],  # split 1-1
    "p00005": ["B", None, None],  # one judgment for B
    "p00006": ["A", "A", "B"],  # 2 of 3 for A
    "p00007": [None, None, None],  # never judged
}


def judge(experiment, pair, reviewer, choice, *, dimension_choices=None):
    now = timezone.now()
    assignment = Assignment.objects.create(
        experiment=experiment, pair=pair, reviewer=reviewer, left_is_a=True,
        status="submitted", shown_at=now - timedelta(seconds=20), submitted_at=now,
    )  # fmt: skip
    for dimension in experiment.dimensions.all():
        value = (dimension_choices or {}).get(dimension.name, choice)
        Judgment.objects.create(assignment=assignment, dimension=dimension, choice=value)


@pytest.fixture
def world(owner, reviewers):
    experiment = make_experiment(
        owner, n_pairs=len(VOTES), dimensions=["overall", "style"], reviews_per_pair=3
    )
    for reviewer in reviewers:
        Membership.objects.create(experiment=experiment, user=reviewer)
    pairs = {p.external_id: p for p in experiment.pairs.all()}
    for external_id, votes in VOTES.items():
        for reviewer, vote in zip(reviewers, votes, strict=True):
            if vote is not None:
                # On "style", every reviewer prefers B: another dimension, other winners.
                judge(experiment, pairs[external_id], reviewer, vote,
                      dimension_choices={"style": "B"})  # fmt: skip
    return experiment, pairs


def records(experiment, **kwargs):
    text = "".join(preference_lines(experiment, PreferenceFilter(**kwargs)))
    # Read back as `datasets` reads JSON lines: one object per non-empty line.
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def chosen_pairs(experiment, pairs, rows):
    by_prompt = {p.prompt: p for p in pairs.values()}
    out = {}
    for row in rows:
        pair = by_prompt[row["prompt"]]
        assert {row["chosen"], row["rejected"]} == {pair.output_a, pair.output_b}
        out[pair.external_id] = "A" if row["chosen"] == pair.output_a else "B"
    return out


def test_majority_wins_and_ties_and_splits_stay_out(world):
    experiment, pairs = world
    rows = records(experiment)
    assert set(rows[0]) == {"prompt", "chosen", "rejected"}
    assert chosen_pairs(experiment, pairs, rows) == {
        "p00000": "A", "p00001": "B", "p00005": "B", "p00006": "A",
    }  # fmt: skip
    summary = summarise(experiment, PreferenceFilter()).as_dict()
    assert summary == {
        "dimension": "overall",
        "pairs_considered": 7,
        "exported": 4,
        "left_out": {"too_few_judgments": 0, "tie": 1, "split": 2, "low_agreement": 0},
    }


def test_minimum_judgments_and_agreement(world):
    experiment, pairs = world
    two_of_three = records(experiment, min_judgments=3, min_agreement=Fraction(2, 3))
    assert chosen_pairs(experiment, pairs, two_of_three) == {
        "p00000": "A", "p00001": "B", "p00006": "A",
    }  # fmt: skip
    unanimous = records(experiment, min_judgments=3, min_agreement=Fraction(1))
    assert chosen_pairs(experiment, pairs, unanimous) == {"p00000": "A"}
    summary = summarise(experiment, PreferenceFilter(min_judgments=3, min_agreement=Fraction(1)))
    assert summary.as_dict()["left_out"] == {
        "too_few_judgments": 2, "tie": 1, "split": 1, "low_agreement": 2,
    }  # fmt: skip


def test_another_dimension_has_its_own_winners(world):
    experiment, pairs = world
    rows = records(experiment, dimension="style")
    assert set(chosen_pairs(experiment, pairs, rows).values()) == {"B"}
    assert len(rows) == 7


def test_excluded_reviewers_automatic_judges_and_gold_stay_out_unless_asked(world, reviewers):
    experiment, pairs = world
    Membership.objects.filter(experiment=experiment, user=reviewers[2]).update(excluded=True)
    # Without the third reviewer, p00002 (A, B) is split, p00003 (tie, tie) a tie.
    assert chosen_pairs(experiment, pairs, records(experiment)) == {
        "p00000": "A", "p00001": "B", "p00005": "B", "p00006": "A",
    }  # fmt: skip
    with_excluded = records(experiment, include_excluded_reviewers=True)
    assert len(with_excluded) == 4
    Membership.objects.filter(experiment=experiment, user=reviewers[0]).update(kind="automatic")
    # Only the second reviewer counts now: A, B, B, tie, B, (none), A.
    assert chosen_pairs(experiment, pairs, records(experiment)) == {
        "p00000": "A", "p00001": "B", "p00002": "B", "p00004": "B", "p00006": "A",
    }  # fmt: skip
    Pair.objects.filter(pk=pairs["p00001"].pk).update(is_gold=True)
    assert "p00001" not in chosen_pairs(experiment, pairs, records(experiment))
    assert "p00001" in chosen_pairs(experiment, pairs, records(experiment, include_gold=True))


def test_openai_format(world):
    experiment, pairs = world
    rows = records(experiment, format="openai")
    first = rows[0]
    pair = pairs["p00000"]
    assert first == {
        "input": {"messages": [{"role": "user", "content": pair.prompt}]},
        "preferred_output": [{"role": "assistant", "content": pair.output_a}],
        "non_preferred_output": [{"role": "assistant", "content": pair.output_b}],
    }


@pytest.mark.parametrize(
    ("text", "share"), [("2/3", Fraction(2, 3)), ("0.6", Fraction(3, 5)), ("60%", Fraction(3, 5))]
)
def test_agreement_is_read_as_a_share(text, share):
    assert parse_agreement(text) == share


@pytest.mark.parametrize("text", ["0", "1.5", "two thirds", "1/0", "-50%"])
def test_agreement_outside_zero_to_one_is_refused(text):
    with pytest.raises(PreferenceError):
        parse_agreement(text)


def test_web_page_summary_and_download(world, owner, client):
    experiment, pairs = world
    client.force_login(owner)
    page = client.get(reverse("owner-preferences", args=[experiment.slug]))
    assert page.status_code == 200
    assert "<strong>4</strong> of 7 judged pairs go in" in page.content.decode()
    url = reverse("export-preferences", args=[experiment.slug])
    response = client.get(url, {"min_agreement": "2/3", "min_judgments": "3"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 3
    bad = client.get(url, {"min_agreement": "lots"})
    assert bad.status_code == 400
    assert "min_agreement" in bad.content.decode()


def test_pages_are_for_the_owner_only(world, client):
    experiment, _ = world
    client.force_login(make_user("mallory", owner=True))
    assert client.get(reverse("owner-preferences", args=[experiment.slug])).status_code == 404
    assert client.get(reverse("export-preferences", args=[experiment.slug])).status_code == 404


def test_api_summary_and_download(world, owner):
    experiment, _ = world
    _, token = create_token(owner, "test")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    base = f"/api/experiments/{experiment.slug}/preferences"
    summary = api.get(base + "/summary", {"min_judgments": 3, "min_agreement": "2/3"})
    assert summary.status_code == 200
    assert summary.json()["exported"] == 3
    download = api.get(base + ".jsonl", {"format": "openai"})
    assert download.status_code == 200
    assert len(b"".join(download.streaming_content).splitlines()) == 4
    bad = api.get(base + ".jsonl", {"dimension": "nonsense"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_filter"


def test_command_writes_the_file_and_a_summary(world, tmp_path):
    experiment, _ = world
    out = tmp_path / "prefs.jsonl"
    err = io.StringIO()
    call_command(
        "export_preferences", experiment.slug, "--min-agreement", "2/3", "-o", str(out), stderr=err
    )
    assert len(out.read_text().splitlines()) == 4
    assert "4 of 7 judged pairs written" in err.getvalue()
    assert "1 tie" in err.getvalue() and "2 split" in err.getvalue()
