"""An owner walks from the experiment page through the pairs page (filtered to split
pairs) to one pair's detail, then to the disagreements, where they leave a note: all in
Chromium, at 1280 px, with nothing scrolling sideways and no console error."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.models import Assignment, Judgment, Membership
from tests.browser.conftest import log_in
from tests.conftest import make_experiment, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def judge(experiment, pair, reviewer, choice, rationale):
    now = timezone.now()
    assignment = Assignment.objects.create(
        experiment=experiment, pair=pair, reviewer=reviewer, left_is_a=reviewer.pk % 2 == 0,
        status="submitted", shown_at=now - timedelta(seconds=40), submitted_at=now,
        rationale=rationale,
    )  # fmt: skip
    for dimension in experiment.dimensions.all():
        Judgment.objects.create(assignment=assignment, dimension=dimension, choice=choice)


def fits(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_owner_walks_pairs_to_detail_to_disagreements(live_server, new_page, artifacts):
    owner = make_user("olivia", owner=True)
    experiment = make_experiment(owner, slug="walk", n_pairs=8, reviews_per_pair=3)
    reviewers = [make_user(name) for name in ("rita", "raj", "rosa")]
    for reviewer in reviewers:
        Membership.objects.create(experiment=experiment, user=reviewer)
    pairs = list(experiment.pairs.order_by("pk"))
    for reviewer in reviewers:
        judge(experiment, pairs[0], reviewer, "A", "All three agree.")
    for reviewer, choice in zip(reviewers, ["A", "B", "tie"], strict=True):
        judge(experiment, pairs[1], reviewer, choice, f"{reviewer.username}: <b>{choice}</b>")

    page, watch = new_page(width=1280, height=900)
    log_in(page, live_server.url, "olivia", "pw-for-tests-123")
    page.goto(f"{live_server.url}/owner/experiments/walk/")
    page.get_by_role("link", name="Pairs", exact=True).first.click()
    page.wait_for_url("**/owner/experiments/walk/pairs/")
    assert page.locator("table.pairs tbody tr").count() == 8
    page.get_by_label("Agreement", exact=True).select_option("split")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**agreement=split**")
    rows = page.locator("table.pairs tbody tr")
    assert rows.count() == 1 and "Split" in rows.first.inner_text()
    assert fits(page)

    page.get_by_role("link", name="p00001").click()
    page.wait_for_url("**/pairs/p00001/")
    body = page.inner_text("body")
    # Owners see the models and every rationale, as text (the markup stays inert).
    assert "zebra-base-7b" in body and "yak-tuned-7b" in body
    for name, choice in zip(("rita", "raj", "rosa"), ["A", "B", "tie"], strict=True):
        assert f"{name}: <b>{choice}</b>" in body
    assert page.locator("b").filter(has_text="tie").count() == 0
    assert fits(page)

    page.get_by_role("link", name="Disagreements").first.click()
    page.wait_for_url("**/disagreements/")
    assert page.locator("h2 a").first.inner_text() == "p00001"
    assert "p00000" not in page.inner_text("body")  # unanimous: not a disagreement
    page.locator("textarea[name=owner_note]").first.fill("Ask rosa why tie.")
    page.get_by_role("button", name="Save note").first.click()
    page.wait_for_url("**/disagreements/**")
    assert page.locator("textarea[name=owner_note]").first.input_value() == "Ask rosa why tie."
    assert fits(page)
    page.screenshot(path=artifacts / "disagreements-1280px.png", full_page=True)
    watch.assert_clean()
