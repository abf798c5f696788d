"""Swapped repeats: when they come, how they look, how progress and results treat them,
and how they travel through the judgments export and import."""

import csv
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reviewapp.assignment import next_assignment
from reviewapp.exports import write_judgments_csv
from reviewapp.judgment_import import JudgmentImportError, import_judgments
from reviewapp.judgments import Answer, record_submission
from reviewapp.models import Assignment, Pair
from reviewapp.progress import reviewer_progress
from reviewapp.repeats import REPEAT_GAP, repeats_after
from reviewapp.results import compute_results
from tests.conftest import make_experiment, make_user
from tests.test_judgment_import import assert_same_results, fresh_copy


def answer(experiment, assignment, reviewer, choose):
    """Answer every dimension with choose(assignment) (a screen choice)."""
    choice = choose(assignment)
    answers = {d.pk: Answer(choice) for d in experiment.dimensions.all()}
    return record_submission(assignment.pk, reviewer, answers)


def always_left(assignment):
    return "left"


def prefers_model_a(assignment):
    """A consistent reviewer: always the content of output A, wherever it is shown."""
    return "left" if assignment.left_is_a else "right"


def walk(experiment, reviewer, choose=always_left) -> list[Assignment]:
    """The reviewer's assignments in the order given, each answered, until none is left."""
    given = []
    while (assignment := next_assignment(experiment, reviewer)) is not None:
        answer(experiment, assignment, reviewer, choose)
        given.append(assignment)
    return given


@pytest.mark.django_db
@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_repeats_come_back_later_swapped_at_the_set_share(owner, rate):
    experiment = make_experiment(owner, n_pairs=30, reviews_per_pair=1, repeat_rate=rate)
    reviewer = make_user("solo")
    experiment.reviewers.add(reviewer)
    given = walk(experiment, reviewer)
    originals = [a for a in given if not a.repeat]
    repeats = [a for a in given if a.repeat]
    assert len(originals) == 30
    assert len(repeats) == repeats_after(experiment, reviewer.pk, 30)
    assert abs(len(repeats) - rate * 30) < 1
    position = {a.pk: i for i, a in enumerate(given)}
    last_original = max(position[a.pk] for a in originals)
    for repeat in repeats:
        first = next(a for a in originals if a.pair_id == repeat.pair_id)
        assert repeat.left_is_a is (not first.left_is_a)  # sides swapped
        between = position[repeat.pk] - position[first.pk] - 1
        # At least REPEAT_GAP other pairs in between, unless the queue had run out.
        assert between >= REPEAT_GAP or position[repeat.pk] > last_original
    # A repeat takes no slot: every pair still has its one review.
    assert set(Pair.objects.values_list("slots_taken", flat=True)) == {1}
    # ... and nothing is shown a third time.
    assert Assignment.objects.count() == 30 + len(repeats)


@pytest.mark.django_db
def test_progress_counts_repeats_and_gold_from_the_start(owner):
    experiment = make_experiment(
        owner, n_pairs=24, reviews_per_pair=2, repeat_rate=0.25, gold_rate=0.15
    )
    Pair.objects.filter(external_id__in=["p00000", "p00001", "p00002"]).update(
        is_gold=True, gold={"overall": "A"}
    )
    from reviewapp.experiments import recount_pairs

    recount_pairs(experiment)
    crew = [make_user("ann"), make_user("bob")]
    experiment.reviewers.add(*crew)
    shares = {r.pk: reviewer_progress(experiment, r, count_remaining=False).share for r in crew}
    active = list(crew)
    while active:
        for reviewer in list(active):
            assignment = next_assignment(experiment, reviewer)
            if assignment is None:
                active.remove(reviewer)
                continue
            answer(experiment, assignment, reviewer, always_left)
            progress = reviewer_progress(experiment, reviewer, count_remaining=False)
            assert progress.share == shares[reviewer.pk]  # "N of M": M never grows
    for reviewer in crew:
        progress = reviewer_progress(experiment, reviewer, count_remaining=False)
        assert progress.done == progress.share == shares[reviewer.pk]
        repeats = Assignment.objects.filter(reviewer=reviewer, repeat=True).count()
        assert repeats == repeats_after(experiment, reviewer.pk, 21) > 0


@pytest.mark.django_db
def test_repeats_add_no_statement_to_a_claim_until_one_is_given(owner):
    counts = {}
    for rate in (0.0, 0.5):
        experiment = make_experiment(
            owner, slug=f"r{int(rate * 10)}", n_pairs=30, reviews_per_pair=3, repeat_rate=rate
        )
        reviewer = make_user(f"q{int(rate * 10)}")
        experiment.reviewers.add(reviewer)
        answer(experiment, next_assignment(experiment, reviewer), reviewer, always_left)
        with CaptureQueriesContext(connection) as queries:
            next_assignment(experiment, reviewer)  # no repeat can be due yet
        counts[rate] = len(queries)
    assert counts[0.0] == counts[0.5]


def normalised(html: str, left: str, right: str) -> str:
    """The page with its two outputs named by side, and every number and token blanked."""
    html = html.replace(left, "@LEFT@").replace(right, "@RIGHT@")
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    html = re.sub(r'"X-CSRFToken": "[^"]*"', "", html)
    return re.sub(r"\d+", "#", html)


@pytest.mark.django_db
def test_a_repeat_looks_like_its_first_showing_on_the_page_sides_swapped(owner, client):
    experiment = make_experiment(owner, n_pairs=12, reviews_per_pair=1, repeat_rate=0.5)
    reviewer = make_user("blind")
    experiment.reviewers.add(reviewer)
    client.force_login(reviewer)
    url = reverse("review-pair", args=[experiment.review_key])
    pages = {}
    while (assignment := next_assignment(experiment, reviewer)) is not None:
        left, right = assignment.shown_outputs()
        page = client.get(url).content.decode()
        pages[assignment.pk] = (assignment, normalised(page, left, right))
        answer(experiment, assignment, reviewer, always_left)
    repeats = [(a, page) for a, page in pages.values() if a.repeat]
    assert repeats
    for repeat, page in repeats:
        original = Assignment.objects.get(pair=repeat.pair, reviewer=reviewer, repeat=False)
        assert page == pages[original.pk][1]
        assert "repeat" not in page.lower()


@pytest.mark.django_db
def test_results_leave_repeats_out_and_report_them_per_reviewer(owner):
    experiment = make_experiment(
        owner, n_pairs=24, reviews_per_pair=2, repeat_rate=0.5, dimensions=["overall", "style"]
    )
    sided, consistent = make_user("sided"), make_user("steady")
    experiment.reviewers.add(sided, consistent)
    walk(experiment, sided, always_left)
    walk(experiment, consistent, prefers_model_a)
    results = compute_results(experiment, n_resamples=0)
    for dimension in ("overall", "style"):
        figures = results["dimensions"][dimension]
        assert figures["n_judgments"] == 48  # 24 pairs x 2 reviewers, no repeat among them
        assert figures["agreement"]["items"] == figures["agreement"]["fleiss_items"] == 24
        counts = figures["pairs"][0]
        assert counts["n"] == 48
    rows = {r["reviewer"]: r for r in results["reviewers"]}
    n_sided = repeats_after(experiment, sided.pk, 24)
    n_steady = repeats_after(experiment, consistent.pk, 24)
    assert n_sided >= 10 and n_steady >= 10
    # Same screen side both times, sides swapped: never the same content.
    assert rows["sided"]["repeats"] == {"n": n_sided, "consistent": 0.0, "same_side": 1.0}
    assert rows["steady"]["repeats"] == {"n": n_steady, "consistent": 1.0, "same_side": 0.0}
    assert "position_bias" in rows["sided"]["flags"]
    assert "position_bias" not in rows["steady"]["flags"]
    assert rows["sided"]["n"] == 24  # the reviewer's judgments on the first dimension
    assert set(rows["sided"]["repeats"]) == {"n", "consistent", "same_side"}


@pytest.mark.django_db
def test_repeat_figures_pool_dimensions_and_skip_ties_for_the_side(owner):
    experiment = make_experiment(
        owner, n_pairs=12, reviews_per_pair=1, repeat_rate=0.5, dimensions=["overall", "style"]
    )
    reviewer = make_user("mixed")
    experiment.reviewers.add(reviewer)
    dimensions = list(experiment.dimensions.order_by("position"))
    seen = 0
    while (assignment := next_assignment(experiment, reviewer)) is not None:
        if assignment.repeat:
            seen += 1
            # overall: a tie on every other repeat; style: the same content as before.
            first = "tie" if seen % 2 else prefers_model_a(assignment)
            answers = {dimensions[0].pk: Answer(first), dimensions[1].pk: Answer("tie")}
        else:
            answers = {dimensions[0].pk: Answer(prefers_model_a(assignment)),
                       dimensions[1].pk: Answer("tie")}  # fmt: skip
        record_submission(assignment.pk, reviewer, answers)
    n = repeats_after(experiment, reviewer.pk, 12)
    ties = (n + 1) // 2
    row = compute_results(experiment, n_resamples=0)["reviewers"][0]
    # Pooled over (repeat, dimension): the style answers all match, overall only off-tie.
    assert row["repeats"]["n"] == n
    assert row["repeats"]["consistent"] == pytest.approx((2 * n - ties) / (2 * n))
    assert row["repeats"]["same_side"] == 0.0  # decided both times only: n - ties repeats


def export_text(experiment) -> str:
    out = io.StringIO()
    write_judgments_csv(experiment, out)
    return out.getvalue()


@pytest.mark.django_db
def test_repeats_travel_through_export_and_import(owner):
    original = make_experiment(
        owner, slug="with-repeats", n_pairs=16, reviews_per_pair=2, repeat_rate=0.4
    )
    crew = [make_user("ann"), make_user("bob")]
    original.reviewers.add(*crew)
    walk(original, crew[0], always_left)
    walk(original, crew[1], prefers_model_a)
    text = export_text(original)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[-3:] == ["repeat", "a_acceptable", "b_acceptable"]
    n_repeats = Assignment.objects.filter(repeat=True).count()
    dimensions = original.dimensions.count()
    assert sum(r["repeat"] == "true" for r in rows) == n_repeats * dimensions
    assert {r["repeat"] for r in rows} == {"true", "false"}

    copy = fresh_copy(original, "copy")
    import_judgments(copy, io.BytesIO(text.encode()))
    assert_same_results(
        compute_results(copy, n_resamples=20), compute_results(original, n_resamples=20)
    )
    assert Assignment.objects.filter(experiment=copy, repeat=True).count() == n_repeats
    # Repeats hold no slot in the copy either.
    slots = set(Pair.objects.filter(experiment=copy).values_list("slots_taken", flat=True))
    assert slots == {2}


@pytest.mark.django_db
def test_import_without_the_repeat_column_refuses_a_second_answer(owner):
    original = make_experiment(owner, slug="src", n_pairs=12, reviews_per_pair=1, repeat_rate=0.5)
    reviewer = make_user("ann")
    original.reviewers.add(reviewer)
    walk(original, reviewer)
    rows = list(csv.reader(io.StringIO(export_text(original))))
    at = rows[0].index("repeat")
    without = io.StringIO()
    csv.writer(without).writerows([row[:at] + row[at + 1 :] for row in rows])
    with pytest.raises(JudgmentImportError) as refused:
        import_judgments(fresh_copy(original, "no-col"), io.BytesIO(without.getvalue().encode()))
    assert "already appear" in str(refused.value.errors[0].message)
    assert "repeat" in refused.value.errors[0].message
    # A repeat row whose first answer is nowhere is refused on its `repeat` column.
    header, *data = rows
    lonely = [header] + [row for row in data if row[at] == "true"][:1]
    text = io.StringIO()
    csv.writer(text).writerows(lonely)
    with pytest.raises(JudgmentImportError) as refused:
        import_judgments(fresh_copy(original, "lonely"), io.BytesIO(text.getvalue().encode()))
    assert refused.value.errors[0].column == "repeat"
    assert "first answer" in refused.value.errors[0].message


@pytest.mark.django_db
def test_repeats_still_to_come_keep_the_reviewer_going(owner):
    # Once every pair has had its first showing, the repeats not given yet still count
    # as work left (the home page's Continue button), and then come.
    experiment = make_experiment(owner, n_pairs=8, reviews_per_pair=1, repeat_rate=0.5)
    reviewer = make_user("solo")
    experiment.reviewers.add(reviewer)
    firsts = 0
    while firsts < 8:
        assignment = next_assignment(experiment, reviewer)
        firsts += not assignment.repeat
        answer(experiment, assignment, reviewer, always_left)
    progress = reviewer_progress(experiment, reviewer)
    given = Assignment.objects.filter(repeat=True).count()
    planned = repeats_after(experiment, reviewer.pk, 8)
    assert planned > given
    assert progress.remaining_for_reviewer == planned - given
    walk(experiment, reviewer)
    assert Assignment.objects.filter(repeat=True).count() == planned
    assert reviewer_progress(experiment, reviewer).remaining_for_reviewer == 0
