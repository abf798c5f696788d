"""A reviewer finishes pairs with the keyboard only; the owner downloads the CSV."""

import csv
import io

import pytest

from reviewapp.models import Assignment, Judgment
from tests.browser.conftest import log_in
from tests.conftest import make_experiment, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-123"
# Screenshots use caret="initial": Playwright's default hides the caret with an injected
# <style>, which the app's Content-Security-Policy (rightly) refuses and logs as an error.


def test_reviewer_finishes_by_keyboard_and_owner_downloads_csv(live_server, new_page, artifacts):
    owner = make_user("olivia", owner=True)
    reviewer = make_user("rita")
    experiment = make_experiment(owner, n_pairs=3, reviews_per_pair=1, slug="kbd")
    experiment.reviewers.add(reviewer)
    n_dims = experiment.dimensions.count()

    page, watch = new_page()
    log_in(page, live_server.url, "rita", PASSWORD)
    page.goto(f"{live_server.url}/review/{experiment.review_key}/")
    page.screenshot(path=artifacts / "1-first-pair.png", full_page=True, caret="initial")
    # Pair 1: "1" = left on every dimension (the highlight moves on by itself).
    # Pair 2: arrow right on every dimension. Pair 3: "2" = tie on every dimension.
    for done, keys in enumerate([["1"], ["ArrowRight"], ["2"]], start=1):
        for _ in range(n_dims):
            page.keyboard.press(keys[0])
        page.keyboard.press("Enter")
        page.get_by_text(f"{done} of 3 done").wait_for()
    page.get_by_text("All done, thank you!").wait_for()
    page.screenshot(path=artifacts / "2-finished.png", full_page=True, caret="initial")
    watch.assert_clean()

    # Nothing reloaded the page: htmx swapped each pair in.
    assert Assignment.objects.filter(status="submitted").count() == 3
    screen = {}
    for assignment in Assignment.objects.all():
        choices = set(assignment.judgments.values_list("choice", flat=True))
        assert len(choices) == 1
        screen[assignment.pk] = choices.pop()
    assert Judgment.objects.count() == 3 * n_dims

    owner_page, owner_watch = new_page()
    log_in(owner_page, live_server.url, "olivia", PASSWORD)
    owner_page.goto(f"{live_server.url}/owner/experiments/{experiment.slug}/")
    with owner_page.expect_download() as download_info:
        owner_page.get_by_role("link", name="Download judgments (CSV)").click()
    download = download_info.value
    text = open(download.path(), encoding="utf-8").read()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 * n_dims
    assert sorted({r["choice"] for r in rows}) == ["left", "right", "tie"]
    for row in rows:
        if row["choice"] == "left":
            assert row["winner"] == row["left_model"]
        elif row["choice"] == "right":
            assert row["winner"] not in (row["left_model"], "tie")
    owner_page.screenshot(path=artifacts / "3-owner.png", full_page=True, caret="initial")
    owner_watch.assert_clean()


def test_enter_with_missing_answers_moves_to_first_unanswered(live_server, new_page):
    owner = make_user("olivia", owner=True)
    reviewer = make_user("rita")
    experiment = make_experiment(owner, n_pairs=2, reviews_per_pair=1, slug="partial")
    experiment.reviewers.add(reviewer)
    page, watch = new_page(width=390, height=844)
    log_in(page, live_server.url, "rita", PASSWORD)
    page.goto(f"{live_server.url}/review/{experiment.review_key}/")
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    # Still on the first pair; the second dimension is highlighted.
    assert page.locator("fieldset.dimension.active legend").inner_text().lower() == "accuracy"
    assert Judgment.objects.count() == 0
    with page.expect_response(lambda response: "/skip/" in response.url):
        page.keyboard.press("s")  # skip
    assert Assignment.objects.filter(status="skipped").count() == 1
    watch.assert_clean()
