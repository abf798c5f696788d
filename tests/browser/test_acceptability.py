"""Acceptable or not, by keyboard: both outputs answered with their keys, stored against
the model whose output was on each side; the owner sees the acceptance plot."""

import io

import pytest

from reviewapp.judgment_import import import_judgments
from reviewapp.models import Assignment
from reviewapp.uploads import import_upload
from tests.browser.conftest import log_in
from tests.conftest import make_experiment, make_user
from tests.test_acceptance import PUBLISHED, first_judgment_per_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-123"
MODELS = ("zebra-base-7b", "yak-tuned-7b")


def test_reviewer_answers_acceptability_by_keyboard(live_server, new_page, artifacts):
    owner = make_user("olivia", owner=True)
    reviewer = make_user("rita")
    experiment = make_experiment(owner, n_pairs=2, reviews_per_pair=1, slug="acc",
                                 models=MODELS, ask_acceptable=True)  # fmt: skip
    experiment.reviewers.add(reviewer)
    n_dims = experiment.dimensions.count()

    page, watch = new_page()
    log_in(page, live_server.url, "rita", PASSWORD)
    page.goto(f"{live_server.url}/review/{experiment.review_key}/")
    question = page.locator("#acceptability")
    assert question.is_visible()
    assert question.locator("legend").all_inner_texts() == [
        "Left output acceptable?",
        "Right output acceptable?",
    ]
    # Blind: nothing on the page names a model.
    body = page.locator("body").inner_text()
    assert not any(model in body for model in MODELS)

    # The rubric answered but not the question: Enter does not submit.
    for _ in range(n_dims):
        page.keyboard.press("1")
    page.keyboard.press("a")  # left: yes
    page.screenshot(path=artifacts / "1-half-answered.png", full_page=True, caret="initial")
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert not Assignment.objects.filter(status="submitted").exists()
    assert page.locator('input[name="acceptable-left"][value="yes"]').is_checked()

    page.keyboard.press("m")  # right: no
    assert page.locator('input[name="acceptable-right"][value="no"]').is_checked()
    page.screenshot(path=artifacts / "2-answered.png", full_page=True, caret="initial")
    page.keyboard.press("Enter")
    page.get_by_text("1 of 2 done").wait_for()

    # Pair 2, swapped in by htmx: left no (Z), right yes (K); changing one's mind works.
    for _ in range(n_dims):
        page.keyboard.press("3")
    for key in ("z", "m", "k"):
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.get_by_text("All done, thank you!").wait_for()
    watch.assert_clean()

    answers = {}
    for assignment in Assignment.objects.order_by("submitted_at"):
        left_a = assignment.left_is_a
        answers[assignment.pk] = (assignment.a_acceptable, assignment.b_acceptable)
        # (left, right) as typed, put back in A/B order by the side that was drawn.
        typed = [(True, False), (False, True)][len(answers) - 1]
        assert answers[assignment.pk] == (typed if left_a else typed[::-1])


def test_owner_sees_the_acceptance_plot(live_server, new_page, artifacts):
    owner = make_user("olivia", owner=True)
    experiment = make_experiment(owner, slug="tulu1", dimensions=["overall"],
                                 baseline_model="chatgpt", ask_acceptable=True)  # fmt: skip
    import_upload(experiment, PUBLISHED / "tulu1_pairs.csv", pairing="all")
    first = first_judgment_per_pair(PUBLISHED / "tulu1_judgments.csv")
    import_judgments(experiment, io.BytesIO(first.encode()))

    page, watch = new_page()
    log_in(page, live_server.url, "olivia", PASSWORD)
    page.goto(f"{live_server.url}/owner/experiments/tulu1/results/")
    section = page.locator("#acceptance")
    plot = section.locator("svg.plot")
    assert plot.is_visible()
    box = plot.bounding_box()
    assert box["width"] > 500 and box["height"] > 100
    # SVG text has no inner text; the names are bidi isolates (U+2068 ... U+2069).
    labels = [t.strip("\u2068\u2069") for t in plot.locator("text.row-label").all_text_contents()]
    assert labels == ["chatgpt", "tulu_65B", "tulu_human_only_65B", "tulu_7B"]  # by rate
    assert (
        "tulu_65B's outputs were acceptable in 80 % of 996"
        in page.locator(".verdict-text").inner_text()
    )
    page.locator(".verdict").screenshot(path=artifacts / "verdict.png", caret="initial")
    section.screenshot(path=artifacts / "acceptance.png", caret="initial")
    watch.assert_clean()
