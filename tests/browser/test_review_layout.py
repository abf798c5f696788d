"""The review screen at 1280x800, 1440x900 and on a 390x844 phone, with a long output and
the demo's French-translation pair: what must be on screen is on screen, nothing overlaps,
and the keyboard does what the shortcut line says."""

import json

import pytest

from reviewapp.experiments import recount_pairs
from reviewapp.management.commands.seed_demo import DEMO_FILE, INSTRUCTIONS
from reviewapp.models import Judgment, Pair, pair_shuffle_key
from tests.browser.conftest import log_in
from tests.conftest import make_experiment, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-123"
DESKTOPS = [(1280, 800), (1440, 900)]
PROMPT_END = "Translate to French:"


def demo_rows() -> list[dict]:
    return [json.loads(line) for line in DEMO_FILE.read_text(encoding="utf-8").splitlines()]


def long_output_study(owner, *, slug="layout", ask_strength=False, n_pairs=2):
    """The French-translation demo pair, one of its outputs followed by eight more real
    answers (about 9,000 characters, far longer than any screen), the demo's instructions
    and the default five dimensions."""
    rows = demo_rows()
    french = next(r for r in rows if r["prompt"].rstrip().endswith(PROMPT_END))
    long_text = "\n\n".join(
        [french["output_a"], *(f"## Part {i}\n\n{r['output_b']}" for i, r in enumerate(rows[:8]))]
    )
    experiment = make_experiment(
        owner, slug=slug, instructions=INSTRUCTIONS, ask_strength=ask_strength
    )
    Pair.objects.bulk_create(
        Pair(
            experiment=experiment,
            external_id=f"fr{i}",
            prompt=french["prompt"],
            model_a="zebra-base-7b",
            output_a=long_text,
            model_b="yak-tuned-7b",
            output_b=french["output_b"],
            shuffle_key=pair_shuffle_key(experiment.seed, f"fr{i}"),
        )
        for i in range(n_pairs)
    )
    recount_pairs(experiment)
    reviewer = make_user("rita")
    experiment.reviewers.add(reviewer)
    return experiment


def open_review(page, live_server, experiment):
    log_in(page, live_server.url, "rita", PASSWORD)
    page.goto(f"{live_server.url}/review/{experiment.review_key}/")
    page.locator("#review-form").wait_for()


BOXES_JS = """selectors => {
  const out = {};
  for (const s of selectors) {
    out[s] = Array.from(document.querySelectorAll(s)).map(el => {
      const r = el.getBoundingClientRect();
      return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,
              width: r.width, height: r.height};
    });
  }
  return out;
}"""

# Where the prompt's last words are drawn, and the part of the prompt box that shows text.
PROMPT_END_JS = """text => {
  const box = document.querySelector('.prompt');
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode()) && !node.textContent.includes(text)) {}
  if (!node) return null;
  const range = document.createRange();
  const start = node.textContent.indexOf(text);
  range.setStart(node, start);
  range.setEnd(node, start + text.length);
  const r = range.getBoundingClientRect(), b = box.getBoundingClientRect();
  return {text: {top: r.top, bottom: r.bottom}, box: {top: b.top, bottom: b.bottom}};
}"""


def boxes(page, *selectors) -> dict[str, list[dict]]:
    return page.evaluate(BOXES_JS, list(selectors))


def overlap(a, b) -> bool:
    return min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5 and (
        min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5
    )


def assert_inside_viewport(page, found: dict):
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    for selector, rects in found.items():
        assert rects, f"{selector} is not on the page"
        for r in rects:
            assert r["width"] > 0 and r["height"] > 0, (selector, r)
            assert r["top"] >= -0.5 and r["bottom"] <= height + 0.5, (selector, r, height)
            assert r["left"] >= -0.5 and r["right"] <= width + 0.5, (selector, r, width)


def page_scroll(page) -> dict:
    return page.evaluate(
        "() => ({height: document.documentElement.scrollHeight, inner: innerHeight,"
        " width: document.documentElement.scrollWidth, innerWidth: innerWidth})"
    )


def close_instructions(page):
    dialog = page.locator("#instructions")
    assert dialog.evaluate("d => d.matches(':modal')")
    page.keyboard.press("Enter")  # its button has the focus
    assert dialog.evaluate("d => !d.open")


@pytest.mark.parametrize("ask_strength", [False, True], ids=["3-answers", "5-answers"])
@pytest.mark.parametrize("size", DESKTOPS, ids=[f"{w}x{h}" for w, h in DESKTOPS])
def test_desktop_shows_prompt_outputs_and_answer_panel_without_page_scroll(
    live_server, new_page, artifacts, size, ask_strength
):
    experiment = long_output_study(make_user("olivia", owner=True), ask_strength=ask_strength)
    page, watch = new_page(*size)
    open_review(page, live_server, experiment)
    close_instructions(page)
    name = f"review-{size[0]}x{size[1]}-{'strength' if ask_strength else 'plain'}.png"
    page.screenshot(path=artifacts / name, caret="initial")

    scroll = page_scroll(page)
    assert scroll["height"] <= scroll["inner"] and scroll["width"] <= scroll["innerWidth"], scroll
    parts = (".prompt-box", ".output", "#review-form")
    found = boxes(page, *parts, "fieldset.dimension", ".options label", "#submit-button",
                  "#skip-button", "#shortcuts", "textarea[name=rationale]")  # fmt: skip
    assert_inside_viewport(page, found)
    assert len(found["fieldset.dimension"]) == 5
    regions = [r for p in parts for r in found[p]]
    for i, a in enumerate(regions):
        for b in regions[i + 1 :]:
            assert not overlap(a, b), (a, b)
    # Each output box shows a good share of the screen, and the long one scrolls on its own.
    for r in found[".output"]:
        assert r["height"] >= 0.18 * size[1], r
    long_box = page.locator(".output .text").filter(has_text="Part 7")
    assert long_box.evaluate("el => el.scrollHeight > 3 * el.clientHeight")
    # The whole answer panel is shown: nothing in it is scrolled out of sight.
    assert page.eval_on_selector("#review-form", "f => f.scrollHeight <= f.clientHeight + 1")
    # The prompt's last line (the actual request) is inside the prompt's visible box.
    end = page.evaluate(PROMPT_END_JS, PROMPT_END)
    assert end["box"]["top"] <= end["text"]["top"] and end["text"]["bottom"] <= end["box"]["bottom"]
    # A keyboard device gets the key hints.
    assert page.locator("#shortcuts").is_visible()
    assert page.locator("#submit-button kbd").is_visible()
    assert page.locator("#left-h").inner_text().lower().startswith("left")
    watch.assert_clean()


def test_phone_stacks_outputs_as_top_and_bottom_without_key_hints(browser, live_server, artifacts):
    experiment = long_output_study(make_user("olivia", owner=True))
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    open_review(page, live_server, experiment)
    page.locator("#instructions button").tap()
    assert page.locator("#instructions").evaluate("d => !d.open")
    page.screenshot(path=artifacts / "review-390x844-top.png", caret="initial")

    # Named by position as shown, on the headings and on the answers alike.
    assert page.locator("#left-h").inner_text().lower().startswith("top")
    assert page.locator("#right-h").inner_text().lower().startswith("bottom")
    labels = page.locator("fieldset.dimension").first.locator("label")
    assert [t.strip() for t in labels.all_inner_texts()] == ["Top better", "Tie", "Bottom better"]
    # No key hints on a touch screen.
    assert page.locator("#shortcuts").is_hidden()
    assert page.eval_on_selector_all(
        ".review kbd", "els => els.every(el => getComputedStyle(el).display === 'none')"
    )
    # The prompt is never cut: no box of its own to scroll, its last words on the page.
    assert page.eval_on_selector(".prompt", "el => el.scrollHeight <= el.clientHeight + 1")
    end = page.evaluate(PROMPT_END_JS, PROMPT_END)
    assert end["text"]["bottom"] <= end["box"]["bottom"] and end["text"]["top"] > 0
    # Outputs stacked, each one capped, so the answers are always less than two screens away.
    outputs = boxes(page, ".output")[".output"]
    assert outputs[0]["bottom"] <= outputs[1]["top"]
    assert page.eval_on_selector_all(
        ".output .text", "els => els.every(el => el.clientHeight <= 0.6 * innerHeight)"
    )
    form_bottom = page.eval_on_selector(
        "#review-form", "f => f.getBoundingClientRect().bottom + scrollY"
    )
    prompt_bottom = page.eval_on_selector(
        ".prompt-box", "p => p.getBoundingClientRect().bottom + scrollY"
    )
    assert form_bottom - prompt_bottom < 2 * 844
    scroll = page_scroll(page)
    assert scroll["width"] <= scroll["innerWidth"], scroll  # nothing sideways

    # Each answer on one line, the three of a dimension side by side, inside the screen.
    page.locator("#review-form").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "review-390x844-answers.png", caret="initial")
    for fieldset in page.locator("fieldset.dimension").all():
        rects = fieldset.locator(".options label").evaluate_all(
            """els => els.map(el => { const r = el.getBoundingClientRect();
                 const line = parseFloat(getComputedStyle(el).lineHeight);
                 return {top: r.top, left: r.left, right: r.right, height: r.height, line}; })"""
        )
        assert len({round(r["top"]) for r in rects}) == 1, rects
        for r in rects:
            assert r["height"] < 2 * r["line"], r
            assert r["left"] >= 0 and r["right"] <= 390, r
    # Tapping answers works.
    labels.nth(2).tap()
    assert page.locator("fieldset.dimension").first.locator("input[value=right]").is_checked()
    context.close()


def test_keyboard_hints_arrows_missing_answers_and_instructions(live_server, new_page, artifacts):
    experiment = long_output_study(make_user("olivia", owner=True))
    page, watch = new_page(1280, 800)
    open_review(page, live_server, experiment)

    # The instructions come before the first pair; keys do not answer behind them.
    page.keyboard.press("1")
    assert page.locator("input[type=radio]:checked").count() == 0
    close_instructions(page)
    page.keyboard.press("?")
    assert page.locator("#instructions").evaluate("d => d.matches(':modal')")
    page.keyboard.press("Escape")
    assert page.locator("#instructions").evaluate("d => !d.open")

    # The chosen answer keeps a readable key hint (it used to turn into an empty white box).
    page.keyboard.press("1")
    chosen = page.locator("fieldset.dimension").first.locator("label:has(input:checked)")
    style = chosen.evaluate(
        """label => { const kbd = label.querySelector('kbd'), k = getComputedStyle(kbd),
             l = getComputedStyle(label);
             return {text: kbd.textContent, color: k.color, background: k.backgroundColor,
                     labelColor: l.color, labelBackground: l.backgroundColor,
                     width: kbd.getBoundingClientRect().width}; }"""
    )
    assert style["text"] == "1" and style["width"] > 0
    assert style["color"] == style["labelColor"] != style["labelBackground"]
    assert style["background"] in ("rgba(0, 0, 0, 0)", style["labelBackground"])
    page.screenshot(path=artifacts / "chosen-hint.png", caret="initial")

    # Arrows scroll a focused output and leave the dimensions alone.
    active = "fieldset.dimension.active legend"
    assert page.locator(active).inner_text() == "Accuracy"
    long_box = page.locator(".output .text").filter(has_text="Part 7")
    long_box.focus()
    before = long_box.evaluate("el => el.scrollTop")
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    # The browser may scroll smoothly: wait (up to 5 s) for the box to move, not a fixed time.
    page.wait_for_function(
        "([box, before]) => box.scrollTop > before",
        arg=[long_box.element_handle(), before],
        timeout=5000,
    )
    page.keyboard.press("ArrowRight")  # scrolls sideways, if anything: no answer
    assert page.locator(active).inner_text() == "Accuracy"
    assert page.locator("input[type=radio]:checked").count() == 1
    # In the answer panel the arrows move between dimensions again.
    page.locator("fieldset.dimension").nth(1).locator("input").first.focus()
    page.keyboard.press("ArrowDown")
    assert page.locator(active).inner_text() == "Relevance"
    page.keyboard.press("ArrowUp")
    assert page.locator(active).inner_text() == "Accuracy"

    # Enter with answers missing: nothing is sent, and the page says which are missing.
    page.keyboard.press("3")  # accuracy: right; relevance, style, usefulness still open
    page.locator("body").focus()
    page.keyboard.press("Enter")
    status = page.locator("#review-status")
    assert status.get_attribute("role") == "alert"
    status.filter(has_text="still to answer").wait_for()
    assert status.inner_text() == "Not sent: still to answer Relevance, Style, Usefulness."
    assert page.locator("fieldset.dimension.missing").count() == 3
    assert page.locator(active).inner_text() == "Relevance"
    assert Judgment.objects.count() == 0
    page.screenshot(path=artifacts / "missing-answers.png", caret="initial")
    for _ in range(3):
        page.keyboard.press("2")
    assert page.locator("fieldset.dimension.missing").count() == 0
    page.keyboard.press("Enter")
    page.get_by_text("1 of 2 done").wait_for()
    assert Judgment.objects.count() == 5
    # The second pair starts straight away: the instructions were for the first.
    assert page.locator("#instructions").evaluate("d => !d.open")
    assert page.locator("#review-status").inner_text() == ""
    watch.assert_clean()
