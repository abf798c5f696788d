"""Hostile outputs, end to end in a real browser.

An owner creates an experiment through the web UI, uploads tests/resources/hostile/
hostile_pairs.jsonl (script tags, javascript: links, remote images, 100k-character outputs,
right-to-left overrides, formula-looking model names...), invites three reviewers and opens
it; the reviewers review every pair by keyboard only; the owner opens the results and
downloads the CSVs. On every page: no script from the data ran (no dialog, no console error,
which includes CSP violations), no request left the loopback address, the page does not
scroll sideways at 1280 px or 390 px, and every control has an accessible name.
"""

import csv
import io
import json
import re
from pathlib import Path

import pytest

from reviewapp.models import Assignment, Experiment, Judgment
from tests.browser.conftest import log_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-123"
HOSTILE = Path(__file__).resolve().parents[1] / "resources" / "hostile" / "hostile_pairs.jsonl"
N_PAIRS = sum(1 for line in HOSTILE.read_text(encoding="utf-8").splitlines() if line.strip())
WIDTHS = (1280, 390)
REVIEWERS = ("rita", "raj", "rosa")
EXPERIMENT_NAME = "<script>alert('name')</script> Hostile outputs"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Nothing active may come out of the renderer, whatever the data.
ACTIVE = ", ".join(
    f".rendered {selector}"
    for selector in [
        "script", "style", "img", "iframe", "svg", "object", "embed", "video", "audio", "form",
        "link", "meta", "base", "math", "[onerror]", "[onload]", "[style]", "a[href^='javascript']",
        "a[href^='data']", "a[href^='vbscript']",
    ]
)  # fmt: skip
# Everything a user can operate: each must have a non-empty computed accessible name.
CONTROLS = "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]"


def assert_controls_named(page) -> int:
    """Asks Chromium itself (DevTools accessibility tree) for every control's computed
    accessible name, the one a screen reader announces; returns how many were checked."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("Accessibility.enable")
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node_ids = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": CONTROLS})[
            "nodeIds"
        ]
        unnamed, checked = [], 0
        for node_id in node_ids:
            nodes = cdp.send(
                "Accessibility.getPartialAXTree", {"nodeId": node_id, "fetchRelatives": False}
            )["nodes"]
            node = nodes[0] if nodes else {}
            if node.get("ignored"):
                continue  # not rendered (display: none) or hidden from assistive technology
            checked += 1
            name = (node.get("name") or {}).get("value", "")
            if not str(name).strip():
                html = cdp.send("DOM.getOuterHTML", {"nodeId": node_id})["outerHTML"]
                unnamed.append(html[:200])
    finally:
        cdp.detach()
    assert unnamed == [], f"controls without an accessible name on {page.url}"
    return checked


def assert_layout_holds(page, *selectors: str) -> None:
    """No sideways scrolling of the page; the key elements are shown inside the viewport."""
    metrics = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    if metrics["scroll"] > metrics["inner"]:
        raise AssertionError(f"{page.url} scrolls sideways: {metrics}; {overflowing(page)}")
    for selector in selectors:
        element = page.locator(selector).first
        assert element.is_visible(), f"{selector} is not visible on {page.url}"
        box = element.bounding_box()
        assert box is not None and box["width"] > 0
        assert box["x"] >= -1 and box["x"] + box["width"] <= metrics["inner"] + 1, (
            f"{selector} sticks out of the viewport on {page.url}: {box}"
        )


def overflowing(page) -> list[str]:
    """The outermost elements reaching past the right edge, to say what broke the layout."""
    return page.evaluate(
        """() => {
            const unclipped = (node) => {
                for (let up = node.parentElement; up && up !== document.body;
                     up = up.parentElement) {
                    if (getComputedStyle(up).overflowX !== 'visible') return false;
                }
                return true;
            };
            const edge = window.innerWidth + 1;
            const found = [];
            for (const el of document.body.querySelectorAll('*')) {
                if (el.getBoundingClientRect().right > edge && unclipped(el)) {
                    found.push(el.tagName + '.' + el.className + ': ' + el.outerHTML.slice(0, 120));
                }
            }
            // Text runs overflow their element without widening its box.
            const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const range = document.createRange();
                range.selectNodeContents(node);
                if (range.getBoundingClientRect().right > edge && unclipped(node)) {
                    found.push('text in ' + node.parentElement.tagName + '.'
                        + node.parentElement.className + ': ' + node.textContent.slice(0, 120));
                }
            }
            return found.slice(0, 8);
        }"""
    )


def check_page(page, artifacts, step: str, *selectors: str) -> None:
    """Layout at both widths, accessible names, and a screenshot of each."""
    original = page.viewport_size
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
        assert_layout_holds(page, *selectors)
        page.screenshot(path=artifacts / f"{step}-{width}px.png", full_page=True, caret="initial")
    page.set_viewport_size(original)
    assert assert_controls_named(page) > 0
    assert "PWNED" not in page.title()


def tab_to(page, predicate: str, limit: int = 60) -> None:
    """Presses Tab until the focused element satisfies `predicate` (a JS function of it)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => ({predicate})(document.activeElement)"):
            return
    raise AssertionError(f"no focusable element matched {predicate}")


def review_everything_by_keyboard(
    page, artifacts, username: str, keys: list[str], n_dims: int
) -> str:
    """From the reviewer's home page to "All done", pressing keys only; returns the text
    of every output shown."""
    shown = []
    tab_to(page, "el => el.tagName === 'A' && /Start reviewing/.test(el.textContent)")
    page.keyboard.press("Enter")
    page.locator("#review-form").wait_for()
    for done in range(1, N_PAIRS + 1):
        key = keys[done % len(keys)]
        page.get_by_text(f"{done - 1} of {N_PAIRS} done").wait_for()
        if done == 1:
            check_page(page, artifacts, f"4-{username}-first-pair", "#review-form", ".output")
            # The instructions come first, in a dialog whose button has the focus.
            assert page.locator("#instructions").evaluate("d => d.matches(':modal')")
            page.keyboard.press("Enter")
            assert page.locator("#instructions").evaluate("d => !d.open")
        else:
            assert_layout_holds(page, "#review-form", "#submit-button", ".output")
        assert page.locator(ACTIVE).count() == 0
        shown += page.locator(".prompt, .output .text").all_inner_texts()
        # Long unbroken strings (the 100k-character output) wrap inside their box: no
        # sideways scrolling in the prompt or either output.
        overflowing = page.eval_on_selector_all(
            ".prompt, .output .text",
            "els => els.filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.className)",
        )
        assert overflowing == [], overflowing
        for _ in range(n_dims):
            page.keyboard.press(key)
        if done == 2:
            # A formula typed as the rationale: Tab into the box, type, Ctrl+Enter submits.
            tab_to(page, "el => el.name === 'rationale'")
            page.keyboard.type("=cmd|' /C calc'!A0")
            page.keyboard.press("Control+Enter")
        else:
            page.keyboard.press("Enter")
    page.get_by_text("All done, thank you!").wait_for()
    check_page(page, artifacts, f"5-{username}-finished", "#finished")
    return "\n".join(shown)


def read_csv(path) -> list[dict]:
    text = Path(path).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


# A plain number (e.g. a negative coefficient) is data, not a formula: spreadsheets read it
# as a number, and the exports write numbers as numbers.
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def assert_no_formula_cells(rows: list[dict]) -> None:
    for row in rows:
        for column, value in row.items():
            if PLAIN_NUMBER.fullmatch(value or ""):
                continue
            assert not (value or "").startswith(FORMULA_START), (column, value)


def test_hostile_outputs_end_to_end(live_server, new_page, artifacts):
    make_user("olivia", owner=True)
    for name in REVIEWERS:
        make_user(name)
    base = live_server.url

    # -- the owner sets the experiment up, through the web UI ---------------------------
    page, watch = new_page()
    log_in(page, base, "olivia", PASSWORD)
    page.get_by_role("link", name="New experiment").click()
    page.get_by_label("Name", exact=True).fill(EXPERIMENT_NAME)
    page.get_by_label("Slug", exact=True).fill("hostile")
    page.get_by_label("Instructions", exact=True).fill(
        "Compare them. <script>alert('instructions')</script> [x](javascript:alert(1)) "
        "![t](http://203.0.113.1/t.png)"
    )
    page.get_by_label("Reviews per pair", exact=True).fill("3")
    page.get_by_label("Dimensions", exact=True).fill("overall\naccuracy")
    check_page(page, artifacts, "1-new-experiment", "form.card")
    page.get_by_role("button", name="Create experiment").click()
    page.wait_for_url("**/hostile/upload/")

    # A hostile file name too: it is shown back on the preview page.
    page.get_by_label("Pairs file").set_input_files(
        {
            "name": "<img src=x onerror=alert('file')>.jsonl",
            "mimeType": "application/octet-stream",
            "buffer": HOSTILE.read_bytes(),
        }
    )
    page.get_by_role("button", name="Check the file").click()
    page.get_by_role("heading", name="What the file holds").wait_for()
    check_page(page, artifacts, "2-preview", "form.card button")
    page.get_by_role("button", name=f"Import {N_PAIRS} new pairs").click()
    page.get_by_role("heading", name="Imported").wait_for()  # the import job's page
    page.get_by_role("link", name="Back to the experiment").click()
    page.wait_for_url("**/owner/experiments/hostile/")
    experiment = Experiment.objects.get(slug="hostile")
    assert experiment.pairs.count() == N_PAIRS
    assert experiment.name == EXPERIMENT_NAME

    page.get_by_label("Reviewers to invite").fill(", ".join(REVIEWERS))
    page.get_by_role("button", name="Invite").click()
    page.get_by_text(f"Invited 3 reviewer(s): {', '.join(sorted(REVIEWERS))}.").wait_for()
    page.get_by_role("button", name="Open for review").click()
    page.get_by_text("Experiment is now open.").wait_for()
    check_page(page, artifacts, "3-experiment-open", "#progress-h", "form textarea")
    watch.assert_clean()

    # -- three reviewers, keyboard only, one of them on a phone-sized screen -------------
    n_dims = experiment.dimensions.count()
    plans = {"rita": (1280, ["1", "3"]), "raj": (390, ["ArrowRight", "2"]), "rosa": (1280, ["2"])}
    for username, (width, keys) in plans.items():
        reviewer_page, reviewer_watch = new_page(width=width, height=900 if width > 500 else 844)
        log_in(reviewer_page, base, username, PASSWORD)
        shown = review_everything_by_keyboard(reviewer_page, artifacts, username, keys, n_dims)
        reviewer_watch.assert_clean()
        # The markup arrived as visible text, escaped, not dropped and not run.
        assert "<script>alert(1)</script> Hello!" in shown
        assert "<img src=x onerror=alert(1)>" in shown
        assert "A" * 100_000 in shown
        assert "\u202egnp.exe\u202c" in shown
    assert Assignment.objects.filter(experiment=experiment, status="submitted").count() == (
        3 * N_PAIRS
    )
    assert Judgment.objects.filter(assignment__experiment=experiment).count() == (
        3 * N_PAIRS * n_dims
    )

    # -- the owner reads the results and downloads both CSVs ------------------------------
    page.goto(f"{base}/owner/experiments/hostile/")
    check_page(page, artifacts, "6-experiment-done", "#progress-h")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download judgments (CSV)").click()
    judgments_path = artifacts / "judgments.csv"
    download_info.value.save_as(judgments_path)
    rows = read_csv(judgments_path)
    assert len(rows) == 3 * N_PAIRS * n_dims
    assert_no_formula_cells(rows)
    models = {r["model_a"] for r in rows} | {r["model_b"] for r in rows}
    assert models == {'\'=HYPERLINK("http://203.0.113.1/","x")', "'@tuned-model", "'+base-model"}
    assert {r["rationale"] for r in rows} >= {"'=cmd|' /C calc'!A0"}
    assert "<script>alert('id')</script>" not in judgments_path.read_text(encoding="utf-8")

    page.get_by_role("link", name="Results", exact=True).click()
    page.wait_for_url("**/hostile/results/")
    check_page(page, artifacts, "7-results", "h1")
    # Whatever CSV of the results the page offers (not the judgments or assignments export).
    results_csv = page.locator("a[href*='csv']", has_text=re.compile("result", re.IGNORECASE))
    if results_csv.count():
        with page.expect_download() as download_info:
            results_csv.first.click()
        results_path = artifacts / "results.csv"
        download_info.value.save_as(results_path)
        results_rows = read_csv(results_path)
        assert results_rows
        assert_no_formula_cells(results_rows)
    else:
        # No CSV of the results on the page (yet): its JSON, through the page's own link.
        href = page.get_by_role("link", name="Results as JSON").get_attribute("href")
        response = page.request.get(f"{base}{href}")
        assert response.ok
        (artifacts / "results.json").write_bytes(response.body())
        results = json.loads(response.text())
        assert set(results["dimensions"]) == {"overall", "accuracy"}
        assert results["dimensions"]["overall"]["n_judgments"] == 3 * N_PAIRS
    watch.assert_clean()
