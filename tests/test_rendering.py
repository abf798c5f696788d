"""Untrusted text to HTML: escaped or sanitised, never live markup."""

from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from reviewapp.rendering import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, render_markdown

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
