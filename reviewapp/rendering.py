"""Untrusted text (prompts, outputs, instructions) to safe HTML.

Markdown (CommonMark with GitHub's tables and strikethrough) is rendered by pyromark,
bindings to the Rust pulldown-cmark parser: much faster than a Python parser (figures in
bench/README.md), which matters because every review screen renders three texts. Raw
HTML in the text is shown as text, images become plain links (nothing remote is ever
loaded), and the result passes through an allow-list sanitiser (nh3, the ammonia crate)
as a second, independent line of defence.
"""

import re

import nh3
import pyromark
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p", "br", "wbr", "hr", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "a",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

_OPTIONS = pyromark.Options.ENABLE_TABLES | pyromark.Options.ENABLE_STRIKETHROUGH
_markdown = pyromark.Markdown(options=_OPTIONS)

# pulldown-cmark writes an image as exactly this (attribute values escaped): it becomes
# "!" and a plain link, as if image syntax did not exist.
_IMAGE = re.compile(r'<img src="([^"]*)" alt="([^"]*)"((?: title="[^"]*")?) />')

# pulldown-cmark has no switch for raw HTML, so raw HTML is escaped in the source first.
# Escaping one piece can change how the rest parses (a backtick inside an escaped tag can
# open a code span elsewhere), so this repeats until no raw HTML is left. Each pass
# escapes at least one "<", and real text needs one or two; past this many passes the
# text is shown verbatim instead.
MAX_ESCAPE_PASSES = 4
_RAW_HTML = ("Html", "InlineHtml")


def render_markdown(text: str) -> SafeString:
    text = text or ""
    if not text.isascii():
        # A lone surrogate cannot be UTF-8 (the parser's input): it shows as "?".
        text = text.encode("utf-8", "replace").decode("utf-8")
    source = _without_raw_html(text)
    if source is None:
        return render_plain(text)
    html = _IMAGE.sub(r'!<a href="\1"\3>\2</a>', _markdown.html(source))
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return mark_safe(_breakable(clean))  # noqa: S308 - sanitised by nh3 just above


# A run of LONG_RUN characters without a space (a URL, a hash, base64, "AAAA...") gets a
# <wbr> every BREAK_EVERY characters, so it wraps inside its box instead of scrolling
# sideways. CSS could do it (overflow-wrap: anywhere), but Chromium takes 6-11 s to lay
# that out over 100k characters; break opportunities every 30 characters lay out in
# milliseconds, and <wbr> adds no character to what is read or copied.
LONG_RUN = 60
BREAK_EVERY = 30
_TAG_OR_TEXT = re.compile(r'(<(?:[^>"]|"[^"]*")*>)')  # nh3 writes attributes in "..."
_LONG_RUN = re.compile(rf"(?:&#?\w+;|[^\s&<>]){{{LONG_RUN},}}")
_CHARACTER = re.compile(r"&#?\w+;|.", re.DOTALL)  # an entity is one character


def _breakable(html: str) -> str:
    if not _LONG_RUN.search(html):
        return html
    pieces = _TAG_OR_TEXT.split(html)
    for i in range(0, len(pieces), 2):  # text between tags (the tags are at odd places)
        pieces[i] = _LONG_RUN.sub(_with_breaks, pieces[i])
    return "".join(pieces)


def _with_breaks(run: re.Match) -> str:
    characters = _CHARACTER.findall(run.group())
    return "<wbr>".join(
        "".join(characters[i : i + BREAK_EVERY]) for i in range(0, len(characters), BREAK_EVERY)
    )


def _without_raw_html(text: str) -> str | None:
    """The text with every piece the parser would take as raw HTML turned into entities
    (so it displays as typed), or None if that does not settle within MAX_ESCAPE_PASSES."""
    if "<" not in text:  # raw HTML always starts with "<": most texts stop here
        return text
    source = text.encode("utf-8")
    for _ in range(MAX_ESCAPE_PASSES):
        spans = [
            (where["start"], where["end"])
            for event, where in pyromark.events_with_range(source.decode("utf-8"), options=_OPTIONS)
            if isinstance(event, dict) and next(iter(event)) in _RAW_HTML
        ]
        if not spans:
            return source.decode("utf-8")
        for start, end in reversed(spans):  # byte offsets; from the end, so they hold
            piece = source[start:end].replace(b"&", b"&amp;").replace(b"<", b"&lt;")
            source = source[:start] + piece + source[end:]
    return None


def render_plain(text: str) -> SafeString:
    """Escaped text with line breaks kept, for places that show text verbatim."""
    return mark_safe(escape(text or "").replace("\n", "<br>"))
