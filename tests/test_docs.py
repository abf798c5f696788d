"""The documentation's relative links and #anchors point to things that exist.

Checked: README.md, docs/*.md and bench/README.md. A link is relative when it has no scheme
(http:, mailto:, ...); its path is resolved from the linking file's folder, and an #anchor
must match a heading of the target Markdown file, slugged as GitHub does."""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted(
    [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
)

FENCE = re.compile(r"^ {0,3}(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\".*\")?\s*$", re.M)
ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (links and headings there are not links)."""
    lines, fence = [], None
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and line.lstrip().startswith(fence):
            fence = None
        elif fence is None:
            lines.append(line)
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (Markdown markup gone) lower-cased, every
    character but letters, digits, spaces, '-' and '_' removed, spaces turned into '-'."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file offers: its headings' slugs (a repeated heading gets
    -1, -2, ... as on GitHub) and explicit <a name/id> anchors."""
    found, seen = set(), {}
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        found.update(HTML_ANCHOR.findall(line))
        match = ATX_HEADING.match(line)
        if match:
            slug = github_slug(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The link targets written in a Markdown file, outside code blocks and code spans."""
    prose = "\n".join(_prose_lines(path.read_text(encoding="utf-8")))
    prose = CODE_SPAN.sub("code", prose)
    return INLINE_LINK.findall(prose) + REFERENCE_DEFINITION.findall(prose)


def broken_links(path: Path) -> list[str]:
    """The relative links of a Markdown file that lead nowhere, each with the reason."""
    problems = []
    for target in links(path):
        if not target or SCHEME.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{path.name}: {target}: no such file")
        elif anchor and resolved.suffix == ".md" and unquote(anchor) not in anchors(resolved):
            problems.append(f"{path.name}: {target}: no heading with anchor #{anchor}")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_in_the_docs_resolves(path):
    assert path.exists()
    assert broken_links(path) == []


def test_docs_index_lists_every_docs_page():
    linked = {
        (ROOT / "docs" / target.partition("#")[0]).resolve()
        for target in links(ROOT / "docs" / "index.md")
    }
    pages = {p.resolve() for p in (ROOT / "docs").glob("*.md")} - {ROOT / "docs" / "index.md"}
    assert pages - linked == set()


def test_readme_is_the_short_front_door_and_links_the_docs():
    readme = ROOT / "README.md"
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= 250
    assert "docs/index.md" in links(readme)


def test_doc_link_checker_reports_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Which judgments count\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Model pairs (`pairs`)\n\n"
        "[fine](other.md) [fine too](other.md#which-judgments-count) [here](#model-pairs-pairs)\n"
        "[web](https://example.org/nowhere.md) [mail](mailto:a@example.org)\n"
        "[gone](missing.md) [bad anchor](other.md#no-such-heading) [bad local](#nowhere)\n"
        "![gone image](img/none.png)\n\n[ref]: ../nowhere/at-all.md\n\n"
        "```\n[in a code block](not-checked.md)\n```\n"
        "`[in a code span](not-checked-either.md)`\n"
    )  # fmt: skip
    assert broken_links(page) == [
        "page.md: missing.md: no such file",
        "page.md: other.md#no-such-heading: no heading with anchor #no-such-heading",
        "page.md: #nowhere: no heading with anchor #nowhere",
        "page.md: img/none.png: no such file",
        "page.md: ../nowhere/at-all.md: no such file",
    ]


def test_doc_link_checker_accepts_a_page_whose_links_all_resolve(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.md").write_text("# A\n\n## Repeated\n\n## Repeated\n")
    page = tmp_path / "page.md"
    page.write_text("[a](sub/a.md#repeated) [again](sub/a.md#repeated-1) [folder](sub/)\n")
    assert broken_links(page) == []


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Model pairs (`pairs`)", "model-pairs-pairs"),
        ("/healthz", "healthz"),
        ("Static files: whitenoise", "static-files-whitenoise"),
        ("Review loop through gunicorn (`bench_review_loop.py`)",
         "review-loop-through-gunicorn-bench_review_looppy"),
        ("Several app servers, one PostgreSQL", "several-app-servers-one-postgresql"),
        ("See [the API](api.md) — twice", "see-the-api--twice"),
    ],
)  # fmt: skip
def test_doc_anchors_are_slugged_as_github_does(heading, slug):
    assert github_slug(heading) == slug
