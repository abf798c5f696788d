"""Gold pairs: uploaded with expected answers, mixed into every queue, never in the preferences."""

import pytest

from reviewapp.experiments import recount_pairs
from reviewapp.models import Pair
from reviewapp.uploads import UploadError, import_upload
from tests.conftest import make_experiment

HEADER = "pair_id,prompt,model_a,output_a,model_b,output_b"


def write(tmp_path, text, name="pairs.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.django_db
def test_gold_winner_and_per_dimension_columns(owner, tmp_path):
    experiment = make_experiment(owner, status="draft")
    path = write(
        tmp_path,
        f"{HEADER},gold_winner,gold_style\n"
        "g1,p,good,right answer,bad,wrong answer,good,tie\n"
        "g2,p,x,o1,y,o2,,y\n"
        "n1,p,x,o1,y,o2,,\n",
    )
    result = import_upload(experiment, path)
    assert result.gold_pairs == 2 and "2 gold pairs" in result.summary()
    g1, g2, n1 = (Pair.objects.get(external_id=i) for i in ("g1", "g2", "n1"))
    assert g1.is_gold and g1.gold == {
        "overall": "A", "accuracy": "A", "relevance": "A", "style": "tie", "usefulness": "A",
    }  # fmt: skip
    assert g2.is_gold and g2.gold == {"style": "B"}
    assert not n1.is_gold and n1.gold == {} and "gold_winner" not in n1.metadata


@pytest.mark.django_db
def test_an_import_stores_the_pair_counts_the_review_screen_reads(owner, reviewers, tmp_path):
    from reviewapp.progress import gold_alongside, regular_share, reviewer_progress

    experiment = make_experiment(owner, status="open", reviews_per_pair=2)
    experiment.reviewers.add(*reviewers)
    rows = [f"n{i},p,x,o{i},y,q{i}," for i in range(5)] + ["g1,p,x,a,y,b,x"]
    import_upload(experiment, write(tmp_path, f"{HEADER},gold_winner\n" + "\n".join(rows)))
    experiment.refresh_from_db()
    assert (experiment.pair_count, experiment.gold_pair_count) == (5, 1)
    # 5 pairs x 2 reviews over 3 reviewers: a regular share of ceil(10 / 3) = 4 each, and
    # the gold pairs the gold rule mixes in alongside those 4.
    assert regular_share(experiment, 3) == 4
    gold = gold_alongside(experiment, reviewers[0].pk, 4)
    assert reviewer_progress(experiment, reviewers[0]).share == 4 + gold
    # A second file adds to the counts; a refused one leaves them as they were.
    import_upload(experiment, write(tmp_path, f"{HEADER}\nn9,p,x,o,y,q\n", "more.csv"))
    with pytest.raises(UploadError):
        import_upload(experiment, write(tmp_path, f"{HEADER}\nbad,p,x,o,x,q\n", "bad.csv"))
    experiment.refresh_from_db()
    assert (experiment.pair_count, experiment.gold_pair_count) == (6, 1)


@pytest.mark.django_db
def test_gold_value_must_name_one_of_the_models(owner, tmp_path):
    experiment = make_experiment(owner, status="draft")
    path = write(tmp_path, f"{HEADER},gold_winner\ng1,p,good,a,bad,b,great\n")
    with pytest.raises(UploadError) as error:
        import_upload(experiment, path)
    assert "line 2, column gold_winner" in str(error.value) and "'great'" in str(error.value)
    assert Pair.objects.count() == 0


@pytest.mark.django_db
def test_gold_column_for_an_unknown_dimension_is_refused(owner, tmp_path):
    experiment = make_experiment(owner, status="draft")
    path = write(tmp_path, f"{HEADER},gold_charm\ng1,p,good,a,bad,b,good\n")
    with pytest.raises(UploadError) as error:
        import_upload(experiment, path)
    assert "gold_charm" in str(error.value) and "gold_overall" in str(error.value)


def make_gold(experiment, n_gold, answer="A"):
    from reviewapp.models import pair_shuffle_key

    Pair.objects.bulk_create(
        Pair(
            experiment=experiment, external_id=f"gold{i}", prompt=f"Gold prompt {i}",
            model_a="zebra-base-7b", output_a="right", model_b="yak-tuned-7b", output_b="wrong",
            is_gold=True, gold={d.name: answer for d in experiment.dimensions.all()},
            shuffle_key=pair_shuffle_key(experiment.seed, f"gold{i}"),
        )
        for i in range(n_gold)
    )  # fmt: skip
    recount_pairs(experiment)


@pytest.mark.django_db
@pytest.mark.parametrize("rate", [0.1, 0.25])
def test_gold_pairs_are_mixed_in_at_the_set_rate_for_every_reviewer(owner, rate):
    from reviewapp.assignment import next_assignment
    from reviewapp.judgments import Answer, record_submission
    from tests.conftest import make_user

    experiment = make_experiment(owner, n_pairs=80, reviews_per_pair=3, gold_rate=rate)
    make_gold(experiment, 30)
    dims = list(experiment.dimensions.all())
    for name in ("g1", "g2", "g3"):
        reviewer = make_user(name)
        kinds = []
        for _ in range(40):
            assignment = next_assignment(experiment, reviewer)
            kinds.append(assignment.pair.is_gold)
            record_submission(assignment.pk, reviewer, {d.pk: Answer("left") for d in dims})
        # floor(rate * n + u) gold pairs after n: within one of rate * n at every point.
        for n in range(1, 41):
            assert abs(sum(kinds[:n]) - rate * n) <= 1, (name, n, kinds)
        assert sum(kinds) in (int(rate * 40), int(rate * 40) + 1)
    # A gold pair given instead of the regular pair just claimed hands that slot back:
    # every pair's count is the number of assignments holding a slot.
    from django.db.models import Count, Q

    holding = Count("assignments", filter=Q(assignments__status__in=["shown", "submitted"]))
    for pair in Pair.objects.filter(experiment=experiment).annotate(holding=holding):
        assert pair.slots_taken == pair.holding, pair.external_id


@pytest.mark.django_db
def test_gold_pairs_never_count_toward_regular_slots_or_end_the_queue(owner):
    from reviewapp.assignment import next_assignment, skip_assignment
    from tests.conftest import make_user

    experiment = make_experiment(owner, n_pairs=2, reviews_per_pair=1, gold_rate=0.5)
    make_gold(experiment, 10)
    reviewer = make_user("solo")
    seen = []
    while (assignment := next_assignment(experiment, reviewer)) is not None:
        seen.append(assignment.pair.is_gold)
        skip_assignment(assignment)
    assert seen.count(False) == 2  # every regular pair
    assert seen[-1] is False  # gold only while regular pairs remain
    assert 1 <= seen.count(True) <= 2


def submit_all(experiment, reviewer, assignment):
    from reviewapp.judgments import Answer, record_submission

    answers = {d.pk: Answer("left") for d in experiment.dimensions.all()}
    record_submission(assignment.pk, reviewer, answers)


@pytest.mark.django_db
@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("n_reviewers", [1, 3])
def test_progress_counts_the_gold_pairs_to_come_from_the_start(owner, rate, n_reviewers):
    # The case: 30 pairs of which 10 gold. The count used to leave gold out
    # ("20 of 20", then "21 of 21"); now the total is fixed from the first pair, the done
    # count only grows, and the queue ends exactly at "M of M".
    from reviewapp.assignment import next_assignment
    from reviewapp.progress import reviewer_progress
    from tests.conftest import make_user

    experiment = make_experiment(owner, n_pairs=20, reviews_per_pair=3, gold_rate=rate)
    make_gold(experiment, 10)
    crew = [make_user(f"crew{i}") for i in range(n_reviewers)]
    experiment.reviewers.add(*crew)
    totals = {r.pk: reviewer_progress(experiment, r).share for r in crew}
    last = {r.pk: (0, 0) for r in crew}
    active = list(crew)
    while active:  # round-robin, as reviewers working side by side
        for reviewer in list(active):
            assignment = next_assignment(experiment, reviewer)
            if assignment is None:
                progress = reviewer_progress(experiment, reviewer)
                assert progress.done == progress.share == totals[reviewer.pk]
                active.remove(reviewer)
                continue
            submit_all(experiment, reviewer, assignment)
            progress = reviewer_progress(experiment, reviewer)
            assert progress.share == totals[reviewer.pk]
            assert progress.done <= progress.share
            assert (progress.done, progress.percent) > last[reviewer.pk]
            assert progress.percent < 100 or progress.done == progress.share
            last[reviewer.pk] = (progress.done, progress.percent)
    gold_seen = Pair.objects.filter(is_gold=True, assignments__isnull=False).count()
    assert gold_seen > 0
    if rate == 1.0:  # every other pair gold until they run out: 20 + 10 each
        assert set(totals.values()) == {30}


@pytest.mark.django_db
def test_owner_and_api_progress_count_the_same_gold_pairs(owner):
    from reviewapp.api.owner import progress_of
    from reviewapp.progress import experiment_progress, gold_alongside, reviewer_progress
    from reviewapp.views.owner import experiment_progress as owner_page_progress
    from tests.conftest import make_user

    experiment = make_experiment(owner, n_pairs=20, reviews_per_pair=2, gold_rate=0.25)
    make_gold(experiment, 10)
    crew = [make_user(f"crew{i}") for i in range(2)]
    experiment.reviewers.add(*crew)
    shares = sum(reviewer_progress(experiment, r).share for r in crew)
    numbers = experiment_progress([experiment])[experiment.pk]
    gold = sum(gold_alongside(experiment, r.pk, 20) for r in crew)
    assert numbers.reviews_needed == 20 * 2 + gold == shares
    assert progress_of([experiment])[experiment.pk]["reviews_needed"] == shares
    (page,) = owner_page_progress([experiment])
    assert (page.n_needed, page.n_pairs) == (shares, 20)
