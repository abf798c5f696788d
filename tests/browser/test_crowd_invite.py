"""A crowd worker arrives by invite link with a PROLIFIC_PID, joins by pressing the button,
is given a resume code, finishes the quota by keyboard, sees the completion code and is
sent on to the platform's completion URL."""

import pytest

from reviewapp.models import Assignment, InviteLink, Membership
from tests.conftest import make_experiment, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_prolific_worker_finishes_quota_and_gets_completion_code(live_server, new_page, artifacts):
    experiment = make_experiment(make_user("olivia", owner=True), n_pairs=5, slug="crowd")
    # The "platform" is a page of this same server, so nothing leaves the loopback address.
    completion_url = f"{live_server.url}/healthz?cc=DONE"
    link = InviteLink.objects.create(experiment=experiment, quota=2, completion_url=completion_url)
    n_dims = experiment.dimensions.count()

    page, watch = new_page(width=390, height=844)
    page.goto(
        f"{live_server.url}/join/{link.token}/?PROLIFIC_PID=60a1b2c3&STUDY_ID=st1&SESSION_ID=se1"
    )
    page.get_by_text("You will join as participant").wait_for()
    page.screenshot(path=artifacts / "0-join-390px.png", full_page=True, caret="initial")
    page.get_by_role("button", name="Start").click()
    code = page.locator("#resume-code")
    code.wait_for()
    assert len(code.inner_text()) == 14
    page.screenshot(path=artifacts / "0-welcome-resume-code-390px.png", full_page=True)
    page.get_by_role("link", name="Start reviewing").click()
    page.get_by_text("0 of 2 done").wait_for()
    page.screenshot(path=artifacts / "1-first-pair-390px.png", full_page=True, caret="initial")
    for done in (1, 2):
        for _ in range(n_dims):
            page.keyboard.press("3")
        page.keyboard.press("Enter")
        if done == 1:
            page.get_by_text("1 of 2 done").wait_for()
    code = page.locator("#completion-code")
    code.wait_for()
    assert code.inner_text() == link.completion_code
    page.screenshot(path=artifacts / "2-completion-code.png", full_page=True, caret="initial")
    page.wait_for_url(completion_url, timeout=15_000)
    watch.assert_clean()

    membership = Membership.objects.get(participant_id="60a1b2c3")
    assert membership.platform_data == {"STUDY_ID": "st1", "SESSION_ID": "se1"}
    assert Assignment.objects.filter(reviewer=membership.user, status="submitted").count() == 2
    assert not Assignment.objects.filter(reviewer=membership.user, status="shown").exists()
