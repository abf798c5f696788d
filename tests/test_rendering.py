"""Untrusted text to HTML: escaped or sanitised, never live markup."""

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pyromark
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reviewapp.rendering import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    isolate_text,
    render_markdown,
    render_text,
)

ROOT = Path(__file__).resolve().parents[1]

HOSTILE_PIECES = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>",
    "[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](data:text/html,<script>)",
    "![i](http://evil.example/p.png)", "<a href='javascript:alert(1)'>a</a>", "<iframe src=//x>",
    "```\n<script>x</script>\n```", "<style>body{}</style>", "<!-- c -->", "&lt;b&gt;", "\u202e",
    "<<script>script>", "<scr<script>ipt>", "[x](vbscript:msgbox)", "<form action=//x>",
    "<details open ontoggle=alert(1)>", "`<b>`", "    <b>indented</b>", "| a |\n|---|\n| <b> |",
    "<math><mi xlink:href='javascript:x'>", "\x00", "[a](  javascript:alert(1)  )", "\n\n",
]  # fmt: skip


class TagCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_safe(html: str) -> None:
    collector = TagCollector()
    collector.feed(html)
    for tag, attrs in collector.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs.items():
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()) | {"rel"}, (tag, name)
            if name == "href":
                assert (
                    value.split(":", 1)[0].lower() in ("http", "https", "mailto")
                    or ":" not in value
                )
    assert "<script" not in html.lower()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=40)), max_size=12))
def test_rendered_markdown_is_always_safe(pieces):
    assert_safe(render_markdown("".join(pieces)))


def test_code_blocks_stay_readable_and_escaped():
    html = render_markdown("```python\nif a < b:\n    print('<b>')\n```")
    assert '<pre><code class="language-python">' in html
    assert "if a &lt; b:" in html and "&lt;b&gt;" in html


def test_images_become_links_and_links_are_nofollow():
    html = render_markdown("![tracker](http://example.com/t.png) [site](https://example.com)")
    assert "<img" not in html
    assert 'href="https://example.com"' in html and "nofollow" in html


def test_very_long_output_renders():
    text = ("word " * 20_000) + "\n\n```\n" + ("x = 1\n" * 2_000) + "```"
    html = render_markdown(text)
    assert len(html) > 100_000 and html.count("<pre>") == 1


def test_raw_html_is_shown_as_typed():
    html = render_markdown('a <b>bold?</b> &amp;\n\n<div class="x">\nblock\n</div>')
    assert "&lt;b&gt;bold?&lt;/b&gt; &amp;" in html
    assert '&lt;div class="x"&gt;' in html and "&lt;/div&gt;" in html
    assert "<b>" not in html and "<div" not in html


def test_escaping_that_reshapes_the_text_is_repeated_until_no_raw_html_is_left():
    # Escaping the first tag frees its backtick, which then opens a code span and
    # exposes the <img> that was inside one: the second pass escapes it too.
    html = render_markdown("<span title='`'>x</span> `<img src=x onerror=alert(1)>`")
    assert "<img" not in html and "<span" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_texts_that_never_settle_are_shown_verbatim(monkeypatch):
    from reviewapp import rendering

    monkeypatch.setattr(rendering, "MAX_ESCAPE_PASSES", 0)
    assert render_markdown("*a* <b>\nc") == '<div class="plain">*a* &lt;b&gt;\nc</div>'
    assert render_markdown("*a* no tags") == "<p><em>a</em> no tags</p>\n"


def test_a_lone_surrogate_does_not_break_rendering():
    assert render_markdown("a \ud800 *b*") == "<p>a ? <em>b</em></p>\n"


def test_long_unbroken_strings_get_break_opportunities_and_nothing_else_changes():
    from reviewapp.rendering import BREAK_EVERY, LONG_RUN

    run = "A" * (LONG_RUN + 10)
    html = render_markdown(f"x {run} &amp;{'B' * 40}&lt;{'C' * 40} short words")
    assert html.count("<wbr>") == 2 + 2  # 70 As; 82 characters of Bs, an entity and Cs
    unbroken = html.replace("<wbr>", "")
    assert run in unbroken and f"&amp;{'B' * 40}&lt;{'C' * 40} short words" in unbroken
    assert "&am<wbr>" not in html and "&l<wbr>" not in html  # entities stay whole
    parts = html.split("<wbr>")
    assert parts[1] == "A" * BREAK_EVERY
    # Attributes are never touched; link text is.
    link = render_markdown(f'[{run}](https://example.com/{"p" * 80} "{"t" * 80}")')
    assert f"https://example.com/{'p' * 80}" in link and "t" * 80 in link
    assert link.count("<wbr>") == 2
    assert "<wbr>" not in render_markdown("a " + "B" * (LONG_RUN - 1) + " c")


# -- faithful rendering: line structure, modes, bidi ----------------------------------------

FIBONACCI = json.loads(
    next(
        line
        for line in (ROOT / "reviewapp/demo_data/tulu1_demo_pairs.jsonl").open(encoding="utf-8")
        if '"tulu1-0033"' in line
    )
)["output_a"]  # Tulu's unfenced Python, as the demo pair holds it


def visible_lines(html: str) -> list[str]:
    """The text of rendered HTML split where a browser breaks lines (<br>, block ends),
    roughly as innerText has it; the real browser check is tests/browser/test_rendering_lines.py."""
    text = re.sub(r"<br>|</(?:p|li|h\d|pre|blockquote|tr|div)>", "\n", html)
    text = unescape(re.sub(r"<[^>]*>", "", text))
    return [line.rstrip() for line in text.split("\n") if line.strip()]


def test_markdown_keeps_every_line_break_and_the_indentation_of_unfenced_code():
    html = render_markdown(FIBONACCI)
    assert visible_lines(html) == [
        "def fibonacci(n):",
        "\u00a0" * 4 + "if n <= 1:",
        "\u00a0" * 8 + "return n",
        "\u00a0" * 4 + "else:",
        "\u00a0" * 8 + "return fibonacci(n-1) + fibonacci(n-2)",
    ]
    signature = render_markdown("Kind regards,\nJane Doe\nHead of Support\n\nP.S. more")
    assert visible_lines(signature) == [
        "Kind regards,", "Jane Doe", "Head of Support", "P.S. more"
    ]  # fmt: skip


def test_only_indentation_beyond_the_paragraph_is_kept_and_structure_does_not_change():
    # List items and quotes indent their own lines: that is not the text's indentation.
    assert render_markdown("- a\n  b\n    c") == (
        "<ul>\n<li>a<br>\nb<br>\n&nbsp;&nbsp;c</li>\n</ul>\n"
    )
    assert render_markdown("> a\n>   b\nlazy") == (
        "<blockquote>\n<p>a<br>\n&nbsp;&nbsp;b<br>\nlazy</p>\n</blockquote>\n"
    )
    assert render_markdown("\tx\n\n  a\n\tb") == (
        "<pre><code>x\n</code></pre>\n<p>a<br>\n&nbsp;&nbsp;b</p>\n"
    )  # an indented block stays code; a tab counts to the next multiple of 4 columns
    # A backslash that already breaks the line, or one that is escaped, stays right.
    assert render_markdown("a\\\nb") == "<p>a<br>\nb</p>\n"
    assert render_markdown("a\\\\\nb") == "<p>a\\<br>\nb</p>\n"
    assert render_markdown("Title\n  more\n===") == "<h1>Title<br>\n&nbsp;&nbsp;more</h1>\n"


BLOCK_TAGS = re.compile(r"</?(?!br\b)[a-z0-9]+")


def real_texts():
    yield from (
        text
        for line in (ROOT / "reviewapp/demo_data/tulu1_demo_pairs.jsonl").open(encoding="utf-8")
        for text in (lambda d: (d["prompt"], d["output_a"], d["output_b"]))(json.loads(line))
    )
    for line in (ROOT / "tests/resources/uploads/pandalm_sample.jsonl").open(encoding="utf-8"):
        pair = json.loads(line)
        yield from (pair["prompt"], pair["output_a"], pair["output_b"])
    yield from (
        text
        for line in (ROOT / "tests/resources/hostile/hostile_pairs.jsonl").open(encoding="utf-8")
        for text in (lambda d: (d["prompt"], d["output_a"], d["output_b"]))(json.loads(line))
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "a",
                " ",
                "  ",
                "\t",
                "\n",
                "- ",
                "1. ",
                "> ",
                "`",
                "*",
                "```",
                "|",
                "---",
                "#",
                "\\",
                "<b>",
                "    ",
            ]
        ),
        max_size=30,
    )
)
@example(["a *", "\n", "a*"])  # a backslash as the hard break opened emphasis here
def test_keeping_lines_changes_no_block_structure(pieces):
    text = "".join(pieces)
    _assert_same_tags(text)


def test_keeping_lines_changes_no_block_structure_of_real_texts():
    for text in real_texts():
        _assert_same_tags(text)


def _assert_same_tags(text):
    from reviewapp import rendering

    source = rendering._without_raw_html(rendering._as_utf8(text))
    if source is None:
        return
    before = BLOCK_TAGS.findall(pyromark.html(source, options=rendering._OPTIONS))
    after = BLOCK_TAGS.findall(
        pyromark.html(rendering._with_lines_kept(source), options=rendering._OPTIONS)
    )
    assert after == before, text


@pytest.mark.parametrize("text", [*HOSTILE_PIECES, "a\n  b", "\u202eevil\nx", "A" * 200])
def test_plain_mode_escapes_everything_and_keeps_the_text(text):
    html = render_text(text, "plain")
    assert html.startswith('<div class="plain">') and html.endswith("</div>")
    inner = html.removeprefix('<div class="plain">').removesuffix("</div>")
    assert "<" not in inner.replace("<wbr>", "")
    expected = text.encode("utf-8", "replace").decode("utf-8")
    assert unescape(inner.replace("<wbr>", "")) == expected


def test_real_and_hostile_texts_are_inert_in_both_modes():
    for text in real_texts():
        assert_safe(render_text(text, "markdown"))
        plain = render_text(text, "plain")
        tags = TagCollector()
        tags.feed(plain)
        assert {tag for tag, _ in tags.tags} <= {"div", "wbr"}
        assert tags.tags[0] == ("div", {"class": "plain"})


def test_render_text_follows_the_mode_and_defaults_to_markdown():
    assert render_text("*a*") == render_text("*a*", "markdown") == "<p><em>a</em></p>\n"
    assert render_text("*a*", "plain") == '<div class="plain">*a*</div>'


def test_a_fifty_deep_list_keeps_its_nesting():
    text = "\n".join("  " * depth + f"- level {depth}" for depth in range(50))
    html = render_markdown(text)
    assert html.count("<ul>") == 50 and "level 49" in html


def test_isolate_text_keeps_direction_marks_inside_the_name():
    assert isolate_text("zebra-base-7b") == "zebra-base-7b"  # nothing to isolate
    assert isolate_text("Café") == "Café"
    assert isolate_text("\u202eevil") == "\u2068\u202eevil\u2069"
    assert isolate_text("עברית") == "\u2068עברית\u2069"
    # A PDI of its own would end the wrapper early: dropped. An isolate left open: closed.
    assert isolate_text("\u2069\u202ex") == "\u2068\u202ex\u2069"
    assert isolate_text("\u2067x\u2066y\u2069") == "\u2068\u2067x\u2066y\u2069\u2069\u2069"
    assert isolate_text(42) == "42"


def test_isolate_filter_is_escaped_and_builtin():
    from django.template import Context, Template

    html = Template("<p>{{ name|isolate }} after</p>").render(Context({"name": "\u202e<b>x"}))
    assert html == "<p>\u2068\u202e&lt;b&gt;x\u2069 after</p>"
