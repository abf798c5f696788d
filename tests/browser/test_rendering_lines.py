"""Faithful rendering, read back from a real browser.

Every prompt and output of the repository's real sample data (the demo's Tulu/ChatGPT
pairs, the PandaLM sample, the published PandaLM and AlpacaEval pairs) is rendered in both
modes into one page with the app's stylesheet, and each box's innerText (the text as the
browser lays it out, line by line) is compared with its source: every non-empty source
line must be a line of its own, in order. The Fibonacci demo pair is then checked on the
real review screen, indentation included.
"""

import csv
import json
import re
from html import unescape
from pathlib import Path

import pytest
from django.utils.html import escape

from reviewapp.models import Pair, pair_shuffle_key
from reviewapp.rendering import isolate_text, render_text
from tests.browser.conftest import log_in
from tests.conftest import make_experiment, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
MODES = ("markdown", "plain")


def real_texts() -> list[tuple[str, str]]:
    """(where, text) for every prompt and output of the real sample data."""
    texts = []
    jsonl = [
        "reviewapp/demo_data/tulu1_demo_pairs.jsonl",
        "tests/resources/uploads/pandalm_sample.jsonl",
    ]
    for name in jsonl:
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            pair = json.loads(line)
            texts += [
                (f"{pair['pair_id']} {field}", pair[field])
                for field in ("prompt", "output_a", "output_b")
            ]
    for name in ("pandalm_pairs.csv", "alpacaeval_phi2_pairs.csv"):
        with (ROOT / "tests/resources/published" / name).open(encoding="utf-8", newline="") as f:
            for pair in csv.DictReader(f):
                texts += [
                    (f"{pair['pair_id']} {field}", pair[field])
                    for field in ("prompt", "output_a", "output_b")
                ]
    return texts


def page_of(live_server, page, boxes_html: str) -> None:
    """A page from the live server (its CSP, its stylesheet) holding the given boxes."""
    page.goto(f"{live_server.url}/login/")
    page.set_content(
        f'<!doctype html><html><head><link rel="stylesheet" href="{live_server.url}'
        '/static/reviewapp/app.css">'
        f"</head><body><main>{boxes_html}</main></body></html>"
    )


def box(i: int, html: str) -> str:
    # The same wrapper as an output on the review screen (templates/review/_pair.html).
    return (
        f'<div class="outputs"><article class="output"><div class="text rendered" dir="auto" '
        f'id="t{i}">{html}</div></article></div>'
    )


# What of a line is visible whatever Markdown does with it: its letters and digits, after
# link destinations (not shown), list markers (drawn by CSS, not in innerText) and
# code-fence lines (not shown) are taken out. Applied to both sides.
_FENCE = re.compile(r"^[\s>]*(?:(?:[-*+]|\d{1,9}[.)])\s+)?(?:`{3,}|~{3,})")
_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()\s]|\([^()]*\))*(?:\s+(?:\"[^\"]*\"|'[^']*'))?\)")
_LIST_MARKER = re.compile(r"^[\s>]*(?:(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$))+")


def markdown_key(line: str) -> str:
    if _FENCE.match(line):
        return ""
    line = _LIST_MARKER.sub("", _LINK.sub(r"\1", unescape(line)))
    return "".join(c for c in line if c.isalnum())


def lines_of(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def mismatch(mode: str, source: str, shown: str) -> bool:
    if mode == "plain":
        want = [line.rstrip() for line in lines_of(source)]
        got = [line.rstrip() for line in lines_of(shown)]
        while want and not want[-1]:
            want.pop()
        while got and not got[-1]:
            got.pop()
        return want != got
    want = [k for k in map(markdown_key, lines_of(source)) if k]
    got = [k for k in map(markdown_key, lines_of(shown)) if k]
    return want != got


@pytest.mark.parametrize("mode", MODES)
def test_every_real_text_keeps_its_lines(live_server, new_page, mode):
    texts = real_texts()
    assert len(texts) > 10_000  # all of it, not a sample
    page, watch = new_page(1280, 900)
    page_of(
        live_server, page, "".join(box(i, render_text(t, mode)) for i, (_, t) in enumerate(texts))
    )
    shown = page.evaluate(
        "n => Array.from({length: n}, (_, i) => document.getElementById('t' + i).innerText)",
        len(texts),
    )
    bad = [
        (where, source, got)
        for (where, source), got in zip(texts, shown, strict=True)
        if mismatch(mode, source, got)
    ]
    assert bad == [], f"{len(bad)} texts lose lines, e.g. {bad[:20]}"
    watch.assert_clean()


FIBONACCI = next(
    json.loads(line)
    for line in (ROOT / "reviewapp/demo_data/tulu1_demo_pairs.jsonl")
    .read_text(encoding="utf-8")
    .splitlines()
    if json.loads(line)["pair_id"] == "tulu1-0033"
)


@pytest.mark.parametrize("mode", MODES)
def test_fibonacci_pair_shows_its_indented_lines_on_the_review_screen(
    live_server, new_page, mode, artifacts
):
    owner, reviewer = make_user("olivia", owner=True), make_user("rita")
    experiment = make_experiment(owner, slug=f"fib-{mode}", render_mode=mode)
    Pair.objects.create(
        experiment=experiment,
        external_id="tulu1-0033",
        **{k: FIBONACCI[k] for k in ("prompt", "model_a", "output_a", "model_b", "output_b")},
        shuffle_key=pair_shuffle_key(experiment.seed, "tulu1-0033"),
    )
    experiment.reviewers.add(reviewer)
    for width, height in ((1280, 800), (390, 844)):
        page, watch = new_page(width, height)
        log_in(page, live_server.url, "rita", "pw-for-tests-123")
        page.goto(f"{live_server.url}/review/{experiment.review_key}/")
        page.screenshot(path=str(artifacts / f"fibonacci-{mode}-{width}.png"))
        boxes = page.locator(".output .text.rendered")
        texts = [boxes.nth(i).inner_text() for i in range(2)]
        tulu = next(i for i, t in enumerate(texts) if "```" not in t and "Here's" not in t)
        lines = [line.replace("\u00a0", " ").rstrip() for line in lines_of(texts[tulu])]
        assert [line for line in lines if line] == [
            line.rstrip() for line in lines_of(FIBONACCI["output_a"])
        ]
        # The layout agrees: "if" starts to the right of "def", "return n" further still.
        lefts = page.evaluate(
            """box => {  // where each line's first visible character is drawn
                const starts = [];
                const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
                let lineStart = true;
                for (let node; (node = walker.nextNode());) {
                    for (let i = 0; i < node.data.length; i++) {
                        if (node.data[i] === "\\n") { lineStart = true; continue; }
                        if (!lineStart || /[\\s\\u00a0]/.test(node.data[i])) continue;
                        const range = document.createRange();
                        range.setStart(node, i); range.setEnd(node, i + 1);
                        starts.push(range.getBoundingClientRect().left);
                        lineStart = false;
                    }
                }
                return starts;
            }""",
            boxes.nth(tulu).element_handle(),
        )
        assert len(lefts) == 5, lefts
        assert lefts[0] < lefts[1] < lefts[2] and lefts[3] == lefts[1] and lefts[4] == lefts[2]
        # Both sides in the same mode: plain boxes on both or on neither.
        plain = [boxes.nth(i).locator(".plain").count() for i in range(2)]
        assert plain == ([1, 1] if mode == "plain" else [0, 0])
        assert page.locator(".prompt .plain").count() == (mode == "plain")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        watch.assert_clean()


def test_deep_lists_fit_and_direction_overrides_stay_inside(live_server, new_page):
    deep = "\n".join("  " * depth + f"- level {depth}" for depth in range(50))
    evil = "\u2069\u202eevil"  # an override after a stray PDI that would end a wrapper
    boxes = box(0, render_text(deep)) + box(1, render_text(f"Start {evil}\n\nmore", "plain"))
    boxes += f'<p id="isolated">Before {escape(isolate_text(evil))} after</p>'
    boxes += f'<p id="bare">Before {escape(evil)} after</p>'
    for width in (1280, 390):
        page, watch = new_page(width, 844)
        page_of(live_server, page, boxes)
        sizes = page.evaluate(
            "[t0.scrollWidth, t0.clientWidth, document.documentElement.scrollWidth, innerWidth]"
        )
        assert sizes[0] <= sizes[1] and sizes[2] <= sizes[3], sizes
        assert page.evaluate("t0.innerText").split("\n")[-1] == "level 49"
        order = """id => {
            const node = [...document.getElementById(id).childNodes].pop();  // " after"
            const at = i => { const r = document.createRange(); r.setStart(node, i);
                              r.setEnd(node, i + 1); return r.getBoundingClientRect().left; };
            const a = node.data.indexOf("after");
            return at(a) < at(a + 4);  // "a" left of "r": read left to right
        }"""
        assert page.evaluate(order, "isolated")
        assert not page.evaluate(order, "bare")  # the check can fail: unisolated, it flips
        # In a rendered box the override ends with its line.
        assert page.evaluate("t1.innerText").endswith("more")
        watch.assert_clean()


HOSTILE = ROOT / "tests/resources/hostile/hostile_pairs.jsonl"
ACTIVE = ".rendered *:not(div.plain, wbr)"  # plain mode makes nothing but its box and breaks


def test_hostile_texts_stay_inert_and_inside_their_boxes_in_plain_mode(live_server, new_page):
    texts = [
        text
        for line in HOSTILE.read_text(encoding="utf-8").splitlines()
        for text in (lambda pair: (pair["prompt"], pair["output_a"], pair["output_b"]))(
            json.loads(line)
        )
    ]
    boxes = "".join(box(i, render_text(t, "plain")) for i, t in enumerate(texts))
    page, watch = new_page(1280, 844)
    page_of(live_server, page, boxes)
    assert page.locator(ACTIVE).count() == 0
    shown = page.evaluate(
        "n => Array.from({length: n}, (_, i) => document.getElementById('t' + i).innerText)",
        len(texts),
    )
    bad = [t[:80] for t, got in zip(texts, shown, strict=True) if mismatch("plain", t, got)]
    assert bad == []
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 844})
        assert page.evaluate(
            """n => Array.from({length: n}, (_, i) => document.getElementById('t' + i))
                    .every(box => box.scrollWidth <= box.clientWidth)"""
            " && document.documentElement.scrollWidth <= innerWidth",
            len(texts),
        )
    watch.assert_clean()
