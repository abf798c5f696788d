"""The rubric page in a real browser with JavaScript off, by keyboard only: the tab order
walks each row (order, name, remove), Enter saves, and an error comes back on the page."""

import pytest

from reviewapp.assignment import next_assignment
from reviewapp.judgments import Answer, record_submission
from tests.browser.conftest import CHROMIUM_ARGS, log_in  # noqa: F401
from tests.conftest import make_experiment, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rubric_edited_by_keyboard_without_javascript(browser, live_server, artifacts):
    owner = make_user("olivia", owner=True)
    experiment = make_experiment(owner, n_pairs=1, dimensions=["overall", "accuracy", "style"])
    rita = make_user("rita")
    experiment.reviewers.add(rita)
    assignment = next_assignment(experiment, rita)
    record_submission(
        assignment.pk, rita, {d.pk: Answer("left") for d in experiment.dimensions.all()}
    )
    experiment.dimensions.create(name="tone", position=3)  # added later: no judgments yet
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    log_in(page, live_server.url, "olivia", "pw-for-tests-123")
    page.goto(f"{live_server.url}/owner/experiments/{experiment.slug}/rubric/")
    page.screenshot(path=artifacts / "rubric-1280x800.png")

    # Row by row: order, name, (remove, skipped while disabled for a judged dimension).
    page.get_by_label("Order of overall").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Name of overall"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Order of accuracy"
    page.keyboard.press("Control+A")
    page.keyboard.type("9")  # accuracy last
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("correctness")
    page.get_by_label("Name of tone").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert page.get_by_label("Remove tone").is_checked()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "Order of new dimension 1"
    )
    page.keyboard.press("Tab")
    page.keyboard.type("safety")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/owner/experiments/{experiment.slug}/")
    names = list(experiment.dimensions.order_by("position").values_list("name", flat=True))
    assert names == ["overall", "style", "correctness", "safety"]  # no order number: last

    # A duplicate name: the page comes back with the error beside the row.
    page.goto(f"{live_server.url}/owner/experiments/{experiment.slug}/rubric/")
    page.get_by_label("Name of new dimension 1").focus()
    page.keyboard.type("Style")
    page.keyboard.press("Enter")
    page.get_by_text("“Style” is listed twice.").wait_for()
    page.screenshot(path=artifacts / "rubric-error-1280x800.png")
    context.close()
