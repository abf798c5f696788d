"""Untrusted text (prompts, outputs, instructions) to safe HTML, in one of two modes.

An experiment chooses how its texts are shown (Experiment.render_mode); every text of the
review screen (prompt, both outputs) goes through the same mode, so both sides of a pair
always look alike:

- "markdown": GitHub-style Markdown with its line breaks kept. Plain-text outputs must
  not lose their shape: Markdown joins a paragraph's lines and drops their indentation,
  which turned an unfenced Python answer into one run-on line beside a fenced one. Here
  every line break of a paragraph is a <br>, and a continuation line indented beyond its
  paragraph keeps that indentation (as no-break spaces, which the parser leaves alone).
- "plain": the text as written, escaped, in a pre-wrapped box; nothing is interpreted.

Markdown (CommonMark with GitHub's tables and strikethrough) is rendered by pyromark,
bindings to the Rust pulldown-cmark parser: much faster than a Python parser (figures in
bench/README.md), which matters because every review screen renders three texts. Raw
HTML in the text is shown as text, images become plain links (nothing remote is ever
loaded), and the result passes through an allow-list sanitiser (nh3, the ammonia crate)
as a second, independent line of defence.
"""

import re
import unicodedata
from bisect import bisect_right

import nh3
import pyromark
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

MARKDOWN, PLAIN = "markdown", "plain"  # the values of Experiment.RenderMode

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


def render_text(text: str, mode: str = MARKDOWN) -> SafeString:
    """An untrusted text as HTML in the experiment's render mode."""
    return render_plain(text) if mode == PLAIN else render_markdown(text)


def render_markdown(text: str) -> SafeString:
    text = _as_utf8(text or "")
    source = _without_raw_html(text)
    if source is None:
        return render_plain(text)
    source = _with_lines_kept(source)
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


def render_plain(text: str) -> SafeString:
    """The text exactly as written: escaped, in a box that keeps its spaces and line
    breaks and wraps long lines (the `plain` class in app.css)."""
    body = _breakable(escape(_as_utf8(text or "")))
    return mark_safe(f'<div class="plain">{body}</div>')  # noqa: S308 - escaped just above


def _as_utf8(text: str) -> str:
    if text.isascii():
        return text
    # A lone surrogate cannot be UTF-8 (the parser's input): it shows as "?".
    return text.encode("utf-8", "replace").decode("utf-8")


# A run of LONG_RUN characters without a space (a URL, a hash, base64, "AAAA...") gets a
# <wbr> every BREAK_EVERY characters, so it wraps inside its box instead of scrolling
# sideways. CSS could do it (overflow-wrap: anywhere), but Chromium takes 6-11 s to lay
# that out over 100k characters; break opportunities every 30 characters lay out in
# milliseconds, and <wbr> adds no character to what is read or copied.
LONG_RUN = 60
BREAK_EVERY = 30
_TAG_OR_TEXT = re.compile(r'(<(?:[^>"]|"[^"]*")*>)')  # nh3 writes attributes in "..."
# A match starts only where a run does (the lookbehind): tried at every character of a
# run, the search would take time quadratic in its length (indented code is full of
# "&nbsp;&nbsp;...").
_LONG_RUN = re.compile(rf"(?<![^\s<>])(?:&#?\w+;|[^\s&<>]){{{LONG_RUN},}}")
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


NBSP = "\u00a0"
TAB_STOP = 4  # CommonMark's


def _with_lines_kept(source: str) -> str:
    """The Markdown source with every soft line break made a hard one (two spaces before
    the line ending; not a backslash, which would make a "*" or "_" ending the line open
    emphasis, as in "a *" / "a*") and each continuation line's indentation beyond its paragraph's
    first line turned into no-break spaces, which the parser keeps as text.

    Only lines the parser already reads as a paragraph's continuation are touched, and a
    line led by no-break spaces is still one, so the block structure does not change.
    """
    if "\n" not in source and "\r" not in source:
        return source
    data = source.encode("utf-8")  # the parser's offsets are in bytes
    line_starts = [0, *(m.end() for m in _LINE_END.finditer(data))]
    pieces, done = [], 0  # the edited source, up to byte `done`
    first = None  # offset of the current block's first text
    after_break = False
    for event, where in pyromark.events_with_range(source, options=_OPTIONS):
        start = where["start"]
        if event == "SoftBreak":
            pieces += [data[done:start], b"  "]
            done, after_break = start, True
        elif _starts_block(event):
            first, after_break = None, False
        else:
            if first is None:
                first = start
            if after_break:
                after_break = False
                lead_start, shown = _indentation(data, line_starts, start, first)
                if shown:
                    pieces += [data[done:lead_start], shown]
                    done = start
    pieces.append(data[done:])
    return b"".join(pieces).decode("utf-8")


_LINE_END = re.compile(rb"\r\n|\r|\n")
_BLOCKS = {"Paragraph", "Heading", "Item", "BlockQuote", "List", "TableCell", "CodeBlock"}


def _starts_block(event) -> bool:
    if not (isinstance(event, dict) and "Start" in event):
        return False
    kind = event["Start"]
    name = kind if isinstance(kind, str) else next(iter(kind))
    return name in _BLOCKS


def _widths(text: str, column: int) -> list[int]:
    """The columns each character of `text` takes, starting at `column` (tabs to the next
    multiple of TAB_STOP)."""
    widths = []
    for character in text:
        width = TAB_STOP - column % TAB_STOP if character == "\t" else 1
        widths.append(width)
        column += width
    return widths


def _indentation(data: bytes, line_starts: list[int], offset: int, first: int):
    """For a continuation line whose text starts at byte `offset`, in a block whose text
    starts at byte `first`: where its leading blanks start, and what replaces them from
    there (b"" when it is not indented beyond the block's first line)."""
    line_start = line_starts[bisect_right(line_starts, offset) - 1]
    first_start = line_starts[bisect_right(line_starts, first) - 1]
    first_column = sum(_widths(data[first_start:first].decode("utf-8"), 0))
    prefix = data[line_start:offset].decode("utf-8")
    lead = prefix[len(prefix.rstrip(" \t")) :]  # after any ">" or list marker of the line
    before = prefix[: len(prefix) - len(lead)]
    column = sum(_widths(before, 0))
    spaces = sum(_widths(lead, column))
    extra = min(column + spaces - first_column, spaces)
    if extra <= 0:
        return offset, b""
    shown = " " * (spaces - extra) + NBSP * extra
    return offset - len(lead.encode("utf-8")), shown.encode("utf-8")


# Bidirectional formatting characters. An override or embedding (LRE, RLE, LRO, RLO, up
# to a PDF) or an isolate (LRI, RLI, FSI, up to a PDI) left open in a name would reorder
# whatever follows it on the same line: "\u202eexe.txt" shows as "txt.exe", and the text
# after it is reversed too.
FSI, PDI = "\u2068", "\u2069"
_ISOLATE_OPENERS = frozenset("\u2066\u2067\u2068")
# Bidi classes that can move text: right-to-left letters and digits, and the controls.
_RIGHT_TO_LEFT = frozenset(
    {"R", "AL", "AN", "LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}
)


def isolate_text(text) -> str:
    """`text` as one first-strong isolate (FSI ... PDI): whatever directional characters
    it holds act inside it and cannot reorder the text around it. Used for untrusted
    one-line strings (experiment, model, reviewer and dimension names) in templates (the
    `isolate` filter), page titles and plots. Embeddings and overrides end with the
    isolate on their own; a PDI that would close the outer isolate early is dropped, and
    isolates the text leaves open are closed."""
    text = str(text)
    if text.isascii() or not any(unicodedata.bidirectional(c) in _RIGHT_TO_LEFT for c in text):
        return text  # left-to-right only: no invisible characters to copy along with it
    kept, depth = [], 0
    for character in text:
        if character in _ISOLATE_OPENERS:
            depth += 1
        elif character == PDI:
            if depth == 0:
                continue
            depth -= 1
        kept.append(character)
    return FSI + "".join(kept) + PDI * depth + PDI
