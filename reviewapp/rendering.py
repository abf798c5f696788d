"""Untrusted text (prompts, outputs, instructions) to safe HTML.

Markdown is rendered with raw HTML disabled, images turned into plain links (nothing
remote is ever loaded), and the result passed through an allow-list sanitiser (nh3,
the ammonia crate) as a second, independent line of defence.
"""

from functools import lru_cache

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "a",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
    ["table", "strikethrough"]
)
_markdown.disable("image")  # ![alt](url) renders as "!" and a plain link: nothing is fetched


# Texts up to this size are remembered (per process, the last CACHED_TEXTS of them): the
# experiment's instructions are rendered on every review screen, and a pair's texts
# once per reviewer. Rendering is a pure function of the text, so nothing can go stale.
CACHE_MAX_CHARS = 8_000
CACHED_TEXTS = 512


def render_markdown(text: str) -> SafeString:
    text = text or ""
    if len(text) <= CACHE_MAX_CHARS:
        return _render_remembered(text)
    return _render(text)


@lru_cache(maxsize=CACHED_TEXTS)
def _render_remembered(text: str) -> SafeString:
    return _render(text)


def _render(text: str) -> SafeString:
    html = _markdown.render(text)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 just above


def render_plain(text: str) -> SafeString:
    """Escaped text with line breaks kept, for places that show text verbatim."""
    return mark_safe(escape(text or "").replace("\n", "<br>"))
