"""The results page of an experiment with several models, read on a 1280 px laptop screen:
nothing scrolls sideways, neither the page nor the model-pair table inside its box, and the
plots' labels, measured in Chromium with its real fonts, stay inside the plot's left edge."""

import pytest

from reviewapp.plots import LABEL_GAP, LABEL_WIDTH, WIDTH
from tests.browser.conftest import log_in
from tests.conftest import make_user
from tests.test_results import build_judged

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Model names as they come from Hugging Face: long, with slashes and dashes.
MODELS = (
    "gpt-4-0613",
    "meta-llama/Llama-2-70b-chat-hf",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "our-org/llama-2-70b-dpo-v3-final",
)


# 12 pairs: a just-started experiment, some model pairs with "too few decided judgments".
@pytest.mark.parametrize("n_pairs", [60, 12])
def test_results_page_fits_1280px(live_server, new_page, artifacts, n_pairs):
    owner = make_user("olivia", owner=True)
    experiment = build_judged(
        owner, slug="layout", models=MODELS, baseline=MODELS[0], n_pairs=n_pairs
    )
    page, watch = new_page(width=1280, height=800)
    log_in(page, live_server.url, "olivia", "pw-for-tests-123")
    page.goto(f"{live_server.url}/owner/experiments/{experiment.slug}/results/")
    page.locator("h1").wait_for()
    page.screenshot(path=artifacts / "results-1280px.png", full_page=True)
    page.locator("#dimension-0").screenshot(path=artifacts / "first-dimension-1280px.png")

    page_width = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert page_width["scroll"] <= page_width["inner"], page_width
    # A table that fits is not hidden behind its own scroll bar either.
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('.table-scroll')].map(
            (box) => ({scroll: box.scrollWidth, client: box.clientWidth,
                       caption: box.querySelector('caption').textContent}))"""
    )
    assert boxes and all(box["scroll"] <= box["client"] for box in boxes), boxes
    # In SVG units (the plots are drawn 1:1 here): every text inside the plot, the labels
    # left of the axis.
    texts = page.evaluate(
        """() => [...document.querySelectorAll('svg.plot text')].map((text) => {
            const box = text.getBBox();
            return {cls: text.getAttribute('class'), left: box.x, right: box.x + box.width,
                    text: text.textContent};
        })"""
    )
    labels = [t for t in texts if t["cls"] == "row-label"]
    assert len(labels) == 2 * (6 + 4)  # two dimensions: 6 model pairs, 4 ratings
    assert all(0 <= t["left"] and t["right"] <= WIDTH for t in texts), texts
    assert all(t["right"] <= LABEL_WIDTH - LABEL_GAP + 1 for t in labels), labels
    watch.assert_clean()
