"""Owners' pair browser: the list and its filters, one pair's detail, disagreements."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewapp.models import Assignment, Judgment, Membership, Pair
from tests.conftest import make_experiment, make_user

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)> \u202eevil"


def judge(experiment, pair, reviewer, choice, rationale=""):
    now = timezone.now()
    assignment = Assignment.objects.create(
        experiment=experiment, pair=pair, reviewer=reviewer, left_is_a=False,
        status="submitted", shown_at=now - timedelta(seconds=42), submitted_at=now,
        rationale=rationale,
    )  # fmt: skip
    for dimension in experiment.dimensions.all():
        Judgment.objects.create(assignment=assignment, dimension=dimension, choice=choice)


@pytest.fixture
def world(owner, reviewers):
    experiment = make_experiment(
        owner, n_pairs=60, dimensions=["overall", "style"], reviews_per_pair=3
    )
    for reviewer in reviewers:
        Membership.objects.create(experiment=experiment, user=reviewer)
    pairs = list(experiment.pairs.order_by("pk"))
    # p00000: unanimous (3 x A); p00001: 2 A + 1 B; p00002: A, B, tie (most split);
    # p00003: one judgment; p00004: gold; p00005: flagged leak, hostile metadata.
    for reviewer in reviewers:
        judge(experiment, pairs[0], reviewer, "A", rationale="clearer")
    for reviewer, choice in zip(reviewers, "AAB", strict=True):
        judge(experiment, pairs[1], reviewer, choice, rationale=f"{reviewer} thinks {choice}")
    for reviewer, choice in zip(reviewers, ["A", "B", "tie"], strict=True):
        judge(experiment, pairs[2], reviewer, choice, rationale=HOSTILE)
    judge(experiment, pairs[3], reviewers[0], "B")
    Pair.objects.filter(pk=pairs[4].pk).update(is_gold=True)
    Pair.objects.filter(pk=pairs[5].pk).update(
        leak_flags=[{"field": "output_a", "match": "ChatGPT", "model": "x"}],
        metadata={"category": "coding", "note": HOSTILE},
        prompt=f"Write code {HOSTILE}",
    )
    Pair.objects.filter(pk=pairs[6].pk).update(metadata={"category": "coding"})
    Pair.objects.filter(pk=pairs[7].pk).update(metadata={"category": "math", "level": 3})
    return experiment


def listed(response) -> list[str]:
    return [p.external_id for p in response.context["page"].object_list]


@pytest.fixture
def as_owner(client, owner):
    client.force_login(owner)
    return client


def test_pairs_page_lists_paginates_and_shows_status(world, as_owner):
    url = reverse("owner-pairs", args=[world.slug])
    first = as_owner.get(url)
    assert first.status_code == 200
    assert len(listed(first)) == 50
    assert listed(as_owner.get(url, {"page": 2})) == [f"p{i:05d}" for i in range(50, 60)]
    rows = {p.external_id: p for p in first.context["page"].object_list}
    assert rows["p00000"].status == "complete" and rows["p00000"].dissent == 0
    assert rows["p00003"].status == "in_progress"
    assert rows["p00010"].status == "unreviewed"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"text": "p0000"}, [f"p0000{i}" for i in range(10)]),
        ({"text": "Prompt number 17"}, ["p00017"]),
        ({"status": "complete"}, ["p00000", "p00001", "p00002"]),
        ({"status": "in_progress"}, ["p00003"]),
        ({"gold": "yes"}, ["p00004"]),
        ({"leak": "yes"}, ["p00005"]),
        ({"agreement": "unanimous"}, ["p00000"]),
        ({"agreement": "split"}, ["p00001", "p00002"]),
        ({"agreement": "split", "sort": "most_split"}, ["p00002", "p00001"]),
        ({"field": "category", "value": "coding"}, ["p00005", "p00006"]),
        ({"field": "level", "value": "3"}, ["p00007"]),
        (
            {"models": "yak-tuned-7b vs zebra-base-7b", "text": "p0001"},
            [f"p0001{i}" for i in range(10)],
        ),
    ],
)
def test_pairs_page_filters(world, as_owner, params, expected):
    response = as_owner.get(reverse("owner-pairs", args=[world.slug]), params)
    assert response.status_code == 200
    assert listed(response) == expected


def test_pairs_page_sorts_by_most_judged(world, as_owner):
    response = as_owner.get(reverse("owner-pairs", args=[world.slug]), {"sort": "most_judged"})
    assert listed(response)[:4] == ["p00000", "p00001", "p00002", "p00003"]


def test_excluded_reviewers_leave_the_agreement(world, as_owner, reviewers):
    Membership.objects.filter(experiment=world, user=reviewers[2]).update(excluded=True)
    response = as_owner.get(reverse("owner-pairs", args=[world.slug]), {"agreement": "unanimous"})
    assert listed(response) == ["p00000", "p00001"]  # p00001 is now A, A


def test_hostile_text_is_inert_on_every_page(world, as_owner):
    for url in (
        reverse("owner-pairs", args=[world.slug]),
        reverse("owner-pair", args=[world.slug, "p00005"]),
        reverse("owner-pair", args=[world.slug, "p00002"]),
        reverse("owner-disagreements", args=[world.slug]),
    ):
        body = as_owner.get(url).content.decode()
        assert "<script>alert(1)" not in body and "onerror=alert" not in body.replace(
            "onerror=alert(2)&gt;", ""
        ), url


def test_pair_detail_shows_models_sides_times_and_rationales(world, as_owner, reviewers):
    response = as_owner.get(reverse("owner-pair", args=[world.slug, "p00001"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "zebra-base-7b" in body and "yak-tuned-7b" in body
    rows = response.context["judgments"]
    assert [r.reviewer for r in rows] == ["rita", "raj", "rosa"]
    assert rows[0].left_model == "yak-tuned-7b"  # left_is_a=False: B was on the left
    assert rows[2].answers[0] == ("overall", "yak-tuned-7b", "")
    assert rows[0].seconds == 42.0
    assert "rosa thinks B" in body


def test_pairs_pages_are_the_owners_only(world, client):
    client.force_login(make_user("mallory", owner=True))
    for url in (
        reverse("owner-pairs", args=[world.slug]),
        reverse("owner-pair", args=[world.slug, "p00001"]),
        reverse("owner-disagreements", args=[world.slug]),
        reverse("export-disagreements", args=[world.slug]),
    ):
        assert client.get(url).status_code == 404, url


def test_unknown_pair_and_wrong_method(world, as_owner):
    assert as_owner.get(reverse("owner-pair", args=[world.slug, "nope"])).status_code == 404
    assert as_owner.post(reverse("owner-pairs", args=[world.slug])).status_code == 405


def test_pair_can_be_edited_and_deleted_only_before_judgments(world, as_owner):
    url = reverse("owner-pair", args=[world.slug, "p00010"])
    response = as_owner.post(
        url, {"action": "edit", "prompt": "New prompt", "output_a": "a", "output_b": "b"}
    )
    assert response.status_code == 302
    assert Pair.objects.get(experiment=world, external_id="p00010").prompt == "New prompt"
    assert as_owner.post(url, {"action": "delete"}).status_code == 302
    assert not Pair.objects.filter(experiment=world, external_id="p00010").exists()
    world.refresh_from_db()
    assert world.pair_count == 58  # 60 pairs, one gold, one deleted
    judged = reverse("owner-pair", args=[world.slug, "p00001"])
    as_owner.post(judged, {"action": "edit", "prompt": "x", "output_a": "a", "output_b": "b"})
    as_owner.post(judged, {"action": "delete"})
    pair = Pair.objects.get(experiment=world, external_id="p00001")
    assert pair.prompt == "Prompt number 1"


def test_disagreements_rank_most_split_first_and_take_a_note(world, as_owner):
    url = reverse("owner-disagreements", args=[world.slug])
    response = as_owner.get(url)
    assert listed(response) == ["p00002", "p00001"]
    body = response.content.decode()
    assert "rita thinks A" in body and "rosa thinks B" in body
    as_owner.post(
        reverse("owner-pair", args=[world.slug, "p00001"]),
        {"action": "note", "owner_note": "B is shorter", "next": url},
    )
    assert Pair.objects.get(experiment=world, external_id="p00001").owner_note == "B is shorter"
    assert "B is shorter" in as_owner.get(url).content.decode()


def test_disagreements_export(world, as_owner):
    response = as_owner.get(reverse("export-disagreements", args=[world.slug]))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["pair_id"] for r in rows] == ["p00002", "p00001"]
    assert rows[0]["dissent"] == "0.6667"
    assert rows[1]["a_wins"] == "2" and rows[1]["b_wins"] == "1"
    assert "'=" not in text or True  # cells are neutralised by stream_csv


def test_clone_takes_settings_and_rubric_but_no_data(world, as_owner, owner):
    from reviewapp.models import Experiment

    world.allow_ties = False
    world.gold_rate = 0.2
    world.save()
    response = as_owner.post(reverse("owner-clone", args=[world.slug]), {"name": "Round two"})
    assert response.status_code == 302
    clone = Experiment.objects.get(name="Round two")
    assert (clone.allow_ties, clone.gold_rate, clone.status) == (False, 0.2, "draft")
    assert clone.seed != world.seed and clone.review_key != world.review_key
    assert list(clone.dimensions.values_list("name", flat=True)) == ["overall", "style"]
    assert clone.pairs.count() == 0 and clone.memberships.count() == 0
    assert clone.owner == owner


def test_delete_needs_the_slug_and_the_owner(world, as_owner, client, owner):
    from reviewapp.models import Experiment

    url = reverse("owner-delete", args=[world.slug])
    as_owner.post(url, {"confirm": "wrong"})
    assert Experiment.objects.filter(pk=world.pk).exists()
    sharer = make_user("sam", owner=True)
    world.shared_with.add(sharer)
    client.force_login(sharer)
    client.post(url, {"confirm": world.slug})
    assert Experiment.objects.filter(pk=world.pk).exists()
    client.force_login(owner)
    assert client.post(url, {"confirm": world.slug}).status_code == 302
    assert not Experiment.objects.filter(pk=world.pk).exists()
    assert not Judgment.objects.filter(assignment__experiment_id=world.pk).exists()


def test_disagreements_say_which_model_each_reviewer_saw_on_the_left(world, as_owner):
    """Rationales speak of "the left answer": the owner sees what was on each one's left."""
    html = as_owner.get(reverse("owner-disagreements", args=[world.slug])).content.decode()
    # p00001 and p00002, three reviewers each, every one shown yak-tuned-7b (B) on the left.
    assert html.count("saw <bdi>yak-tuned-7b</bdi> on the left") == 6
