"""A reviewer's progress with gold pairs mixed in: the total is known from the first pair,
the bar only moves forward, and the queue ends at "M of M"."""

import re

import pytest

from reviewapp.models import Assignment
from tests.browser.conftest import log_in
from tests.conftest import make_experiment, make_user
from tests.test_gold import make_gold

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-123"
PROGRESS = re.compile(r"^(\d+) of (\d+) done$")


def read_progress(page) -> tuple[int, int, int]:
    """(done, total, bar value) as the page shows them."""
    done, total = PROGRESS.match(page.locator("#progress-text").inner_text().strip()).groups()
    bar = int(page.locator("progress.progress").first.get_attribute("value"))
    return int(done), int(total), bar


def test_progress_with_gold_pairs_only_moves_forward(live_server, new_page, artifacts):
    # The case: 30 pairs of which 10 gold. The page used to say "20 of 20 done"
    # and then "21 of 21".
    owner = make_user("olivia", owner=True)
    reviewer = make_user("rita")
    experiment = make_experiment(
        owner, n_pairs=20, reviews_per_pair=1, gold_rate=0.25, slug="gold-progress"
    )
    make_gold(experiment, 10)
    experiment.reviewers.add(reviewer)
    n_dims = experiment.dimensions.count()

    page, watch = new_page()
    log_in(page, live_server.url, "rita", PASSWORD)
    page.goto(f"{live_server.url}/review/")
    page.get_by_role("link", name=re.compile("Start reviewing")).click()
    # The keyboard script runs at the page's load: keys pressed before it are lost.
    page.wait_for_load_state("load")
    seen = [read_progress(page)]
    done, total, bar = seen[0]
    assert (done, bar) == (0, 0) and total > 20  # gold pairs counted from the start
    while not page.locator("#finished").is_visible():
        assert page.locator("#review").inner_text().count("gold") == 0
        for _ in range(n_dims):
            page.keyboard.press("1")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "n => document.querySelector('#progress-text').innerText.startsWith(n + ' of')",
            arg=str(seen[-1][0] + 1),
        )
        seen.append(read_progress(page))
    page.screenshot(path=artifacts / "finished.png", full_page=True, caret="initial")
    watch.assert_clean()

    assert [d for d, _, _ in seen] == list(range(len(seen)))  # one more per submit
    assert {t for _, t, _ in seen} == {total}  # the total never changed
    bars = [b for _, _, b in seen]
    assert bars == sorted(bars) and bars[-1] == 100 and 100 not in bars[:-1]
    assert seen[-1][:2] == (total, total)  # ended at "M of M"
    submitted = Assignment.objects.filter(reviewer=reviewer, status="submitted")
    assert submitted.count() == total
    assert submitted.filter(pair__is_gold=True).count() == total - 20 > 0
