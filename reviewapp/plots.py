"""Server-side SVG plots of the results: no JavaScript, no CDN, readable without colour.

Each plot is an `<svg role="img">` labelled by its `<title>` and `<desc>`; the desc is a
full text alternative (every row's figures), and the page also shows the same numbers in
a table. Every piece of text comes from `html.escape`: model and reviewer names are
untrusted (they come from uploaded files), and each is a bidi isolate (rendering.
isolate_text), so a direction override in one cannot reverse the text after it.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from html import escape

from .rendering import isolate_text

WIDTH = 760  # drawn 1:1 in the page's 760 px plot box
LABEL_WIDTH = 260  # model names on the left
LABEL_GAP = 10  # between a label's right end and the plot
NOTE_WIDTH = 90  # "n = 412" on the right
ROW_HEIGHT = 28
LINE_HEIGHT = 15  # each further line of a label adds this to its row
TOP = 12
AXIS_HEIGHT = 44
FONT_SIZE = 13  # of the labels, as in app.css
ELLIPSIS = "…"

# Advance widths in em, rounded up, of DejaVu Sans (what Chromium falls back to on Debian;
# the usual system fonts are narrower). The SVG has no text measurement of its own, so a
# label is shortened to what these widths say fits, rather than clipped at the edge.
_EM_WIDTHS = {
    **dict.fromkeys("'ijlIJ", 0.3),
    **dict.fromkeys(" ,./:;\\|f-()[]t!r", 0.42),
    **dict.fromkeys('"*_`szc?LFkvxyPTY', 0.62),
    **dict.fromkeys("KAVXZBRCUNHDGOQ&", 0.8),
    **dict.fromkeys("w#+<=>^~M", 0.87),
    **dict.fromkeys("%mW@", 1.0),
}
_DEFAULT_EM = 0.64  # other letters and digits
_WIDE_EM = 1.0  # other ASCII (controls, unlisted symbols)
_OTHER_EM = 1.1  # outside ASCII: the ellipsis, CJK, emoji, wide Cyrillic letters like Ж


@dataclass(frozen=True)
class Row:
    label: str
    point: float | None
    low: float | None
    high: float | None
    note: str = ""
    # Filled marker when the interval excludes the reference line, hollow otherwise.
    decisive: bool = False
    # The label as shown, one line each (each shortened to fit); the whole label by default.
    lines: tuple[str, ...] = ()


def _pct(value: float) -> str:
    return f"{100 * value:.0f} %"


def _char_width(char: str) -> float:
    if char in _EM_WIDTHS:
        return _EM_WIDTHS[char]
    if char.isascii():
        return _DEFAULT_EM if char.isalnum() else _WIDE_EM
    if unicodedata.combining(char) or unicodedata.category(char) == "Cf":
        return 0.0  # accents on the previous letter, zero-width and direction marks
    return _OTHER_EM


def text_width(text: str, font_size: float = FONT_SIZE) -> float:
    """An upper estimate of the drawn width of `text`, in SVG units."""
    return font_size * sum(_char_width(char) for char in text)


def fit_text(text: str, width: float) -> str:
    """`text` if it fits in `width`, else its start and end around an ellipsis: model names
    differ as often at the end ("...-v2" vs "...-v3") as at the start."""
    if text_width(text) <= width:
        return text
    room = width - text_width(ELLIPSIS)
    head, tail, used = 0, len(text), 0.0
    while head < tail:
        # Alternately one more character from the start and from the end, while it fits.
        take_head = head <= len(text) - tail
        index = head if take_head else tail - 1
        cost = text_width(text[index])
        if used + cost > room:
            break
        used += cost
        if take_head:
            head += 1
        else:
            tail -= 1
    return text[:head].rstrip() + ELLIPSIS + text[tail:].lstrip()


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def interval_plot(
    rows: list[Row],
    *,
    plot_id: str,
    title: str,
    description: str,
    axis: tuple[float, float],
    ticks: list[float],
    tick_label,
    reference: float | None = None,
    reference_label: str = "",
) -> str:
    """A dot-and-whisker ("forest") plot: one row per `Row`, point and interval on a
    horizontal axis from `axis[0]` to `axis[1]`, an optional dashed reference line."""
    lo_axis, hi_axis = axis
    x0, x1 = LABEL_WIDTH, WIDTH - NOTE_WIDTH
    n_lines = max((len(row.lines) for row in rows), default=1)
    row_height = ROW_HEIGHT + LINE_HEIGHT * (max(n_lines, 1) - 1)
    height = TOP + row_height * max(len(rows), 1) + AXIS_HEIGHT

    def x(value: float) -> float:
        value = min(max(value, lo_axis), hi_axis)
        return x0 + (value - lo_axis) / (hi_axis - lo_axis) * (x1 - x0)

    title_id, desc_id = f"{plot_id}-title", f"{plot_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" role="img" '
        f'aria-labelledby="{escape(title_id)} {escape(desc_id)}" '
        f'viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{escape(title_id)}">{escape(title)}</title>',
        f'<desc id="{escape(desc_id)}">{escape(description)}</desc>',
    ]
    axis_y = TOP + row_height * max(len(rows), 1)
    # Grid and ticks.
    for tick in ticks:
        tx = _num(x(tick))
        parts.append(
            f'<line class="grid" x1="{tx}" y1="{TOP}" x2="{tx}" y2="{axis_y}" />'
            f'<line class="tick" x1="{tx}" y1="{axis_y}" x2="{tx}" y2="{axis_y + 5}" />'
            f'<text class="tick-label" x="{tx}" y="{axis_y + 18}" text-anchor="middle">'
            f"{escape(tick_label(tick))}</text>"
        )
    parts.append(f'<line class="axis" x1="{x0}" y1="{axis_y}" x2="{x1}" y2="{axis_y}" />')
    if reference is not None:
        rx = _num(x(reference))
        parts.append(
            f'<line class="reference" x1="{rx}" y1="{TOP - 4}" x2="{rx}" y2="{axis_y}" />'
            f'<text class="reference-label" x="{rx}" y="{axis_y + 36}" text-anchor="middle">'
            f"{escape(reference_label)}</text>"
        )
    for i, row in enumerate(rows):
        cy = TOP + row_height * i + row_height / 2
        parts.append(_row_label(row, cy))
        if row.low is not None and row.high is not None:
            parts.append(
                f'<line class="interval" x1="{_num(x(row.low))}" y1="{_num(cy)}" '
                f'x2="{_num(x(row.high))}" y2="{_num(cy)}" />'
                f'<line class="interval" x1="{_num(x(row.low))}" y1="{_num(cy - 5)}" '
                f'x2="{_num(x(row.low))}" y2="{_num(cy + 5)}" />'
                f'<line class="interval" x1="{_num(x(row.high))}" y1="{_num(cy - 5)}" '
                f'x2="{_num(x(row.high))}" y2="{_num(cy + 5)}" />'
            )
        if row.point is not None:
            kind = "point decisive" if row.decisive else "point"
            parts.append(
                f'<circle class="{kind}" cx="{_num(x(row.point))}" cy="{_num(cy)}" r="5" />'
            )
        else:
            parts.append(
                f'<text class="missing" x="{_num((x0 + x1) / 2)}" y="{_num(cy + 4)}" '
                f'text-anchor="middle">no estimate</text>'
            )
        parts.append(
            f'<text class="row-note" x="{x1 + 10}" y="{_num(cy + 4)}">{escape(row.note)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _row_label(row: Row, cy: float) -> str:
    """The label right-aligned against the plot, its lines centred on the row; shortened
    lines keep the whole label in a <title> (a tooltip, and what a screen reader reads)."""
    lines = row.lines or (row.label,)
    label_x = LABEL_WIDTH - LABEL_GAP
    # 2 units of margin on the left, where the label must never cross the edge.
    shown = [fit_text(line, label_x - 2) for line in lines]
    first_y = cy + 4 - LINE_HEIGHT * (len(shown) - 1) / 2
    title = f"<title>{escape(isolate_text(row.label))}</title>" if shown != list(lines) else ""
    # Isolated after shortening, which may have cut a pair of direction marks apart.
    tspans = "".join(
        f'<tspan x="{label_x}" y="{_num(first_y + LINE_HEIGHT * n)}">'
        f"{escape(isolate_text(line))}</tspan>"
        for n, line in enumerate(shown)
    )
    return (
        f'<text class="row-label" x="{label_x}" y="{_num(first_y)}" text-anchor="end">'
        f"{title}{tspans}</text>"
    )


# Win rates on a 0-100 % axis with the 50 % line (labelled by its tick), for every forest plot.
WIN_RATE_AXIS = {
    "axis": (0.0, 1.0),
    "ticks": [0, 0.25, 0.5, 0.75, 1.0],
    "tick_label": _pct,
    "reference": 0.5,
}


def forest_plot(dimension: str, pairs: list[dict], *, plot_id: str) -> str:
    """Win rate of X over Y (decided judgments) with its 95 % Wilson interval, per pair."""
    rows, sentences = [], []
    dimension = isolate_text(dimension)
    for pair in pairs:
        model_x, model_y = isolate_text(pair["model_x"]), isolate_text(pair["model_y"])
        label = f"{model_x} vs {model_y}"
        lo, hi = pair["x_win_rate_ci"]
        rate = pair["x_win_rate"]
        rows.append(
            Row(
                label=label,
                point=rate,
                low=lo,
                high=hi,
                note=f"n = {pair['decided']:,}",
                decisive=bool(pair["ci_excludes_half"]),
                lines=(pair["model_x"], f"vs {model_y}"),
            )
        )
        if rate is None:
            sentences.append(f"{label}: no decided judgments ({pair['ties']} ties).")
        else:
            sentences.append(
                f"{label}: {model_x} wins {_pct(rate)} (95 % CI {_pct(lo)} to "
                f"{_pct(hi)}) of {pair['decided']:,} decided judgments."
            )
    description = (
        f"Win rate of the first model of each pair against the second on {dimension}, "
        "ties left out, with 95 % Wilson intervals; the dashed line is 50 %. "
        + (" ".join(sentences) if sentences else "No judgments yet.")
    )
    return interval_plot(
        rows,
        plot_id=plot_id,
        title=f"Win rates on {dimension}",
        description=description,
        **WIN_RATE_AXIS,
    )


def tag_forest_plot(dimension: str, by_tag: dict, *, plot_id: str) -> str:
    """Win rate of X over Y within each tag, with its 95 % Wilson interval; a filled dot
    when the row stays significant after Holm's correction over all the rows."""
    rows, sentences = [], []
    dimension = isolate_text(dimension)
    for group in by_tag["groups"]:
        tag = group["tag"] or "(no tag)"
        for pair in group["pairs"]:
            model_x, model_y = isolate_text(pair["model_x"]), isolate_text(pair["model_y"])
            label = f"{isolate_text(tag)}: {model_x} vs {model_y}"
            lo, hi = pair["x_win_rate_ci"]
            rate, holm = pair["x_win_rate"], pair["p_holm"]
            significant = holm is not None and holm < 0.05
            rows.append(
                Row(
                    label=label,
                    point=rate,
                    low=lo,
                    high=hi,
                    note=f"n = {pair['decided']:,}",
                    decisive=significant,
                    lines=(tag, f"{pair['model_x']} vs {model_y}"),
                )
            )
            if rate is None:
                sentences.append(f"{label}: no decided judgments.")
            else:
                verdict = "significant" if significant else "not significant"
                sentences.append(
                    f"{label}: {model_x} wins {_pct(rate)} (95 % CI {_pct(lo)} to "
                    f"{_pct(hi)}) of {pair['decided']:,}, {verdict} after Holm's correction."
                )
    description = (
        f"Win rate of the first model of each pair against the second within each value "
        f"of {isolate_text(by_tag['field'])} on {dimension}, ties left out, with 95 % Wilson "
        "intervals; filled dots stay significant after Holm's correction over every row; "
        "the dashed line is 50 %. " + " ".join(sentences)
    )
    return interval_plot(
        rows,
        plot_id=plot_id,
        title=f"Win rates by {isolate_text(by_tag['field'])} on {dimension}",
        description=description,
        **WIN_RATE_AXIS,
    )


def ratings_plot(dimension: str, models: list[dict], *, plot_id: str) -> str:
    """Bradley-Terry ratings (mean 1000) with their bootstrap intervals, best first."""
    values = [
        v
        for m in models
        for v in (m["rating"], *m["rating_ci"])
        if v is not None and math.isfinite(v)
    ] + [1000.0]
    step = 50.0
    lo_axis = math.floor((min(values) - 10) / step) * step
    hi_axis = math.ceil((max(values) + 10) / step) * step
    span = hi_axis - lo_axis
    while span / step > 8:
        step *= 2
    ticks = [lo_axis + step * i for i in range(int(span // step) + 1)]
    dimension = isolate_text(dimension)
    rows, sentences = [], []
    for m in models:
        lo, hi = m["rating_ci"]
        model = isolate_text(m["model"])
        rows.append(
            Row(
                label=m["model"],
                point=m["rating"],
                low=lo,
                high=hi,
                note="" if m["rank"] is None else f"rank {m['rank']}",
                decisive=True,
            )
        )
        if m["rating"] is None:
            sentences.append(f"{model}: no rating.")
        else:
            interval = "" if lo is None else f" (95 % interval {lo:.0f} to {hi:.0f})"
            sentences.append(f"{model}: {m['rating']:.0f}{interval}, rank {m['rank']}.")
    description = (
        f"Bradley-Terry ratings on {dimension}, mean 1000, 400 points per factor of 10 in "
        "the odds of winning, with 95 % bootstrap intervals. " + " ".join(sentences)
    )
    return interval_plot(
        rows,
        plot_id=plot_id,
        title=f"Ratings on {dimension}",
        description=description,
        axis=(lo_axis, hi_axis),
        ticks=ticks,
        tick_label=lambda v: f"{v:.0f}",
        reference=1000.0,
        reference_label="mean 1000",
    )


def acceptance_plot(acceptance: list[dict], *, plot_id: str) -> str:
    """Share of each model's outputs judged acceptable with its 95 % Wilson interval,
    highest first."""
    rows, sentences = [], []
    for m in sorted(acceptance, key=lambda m: (-m["rate"], m["model"])):
        lo, hi = m["rate_ci"]
        model = isolate_text(m["model"])
        rows.append(
            Row(
                label=m["model"],
                point=m["rate"],
                low=lo,
                high=hi,
                note=f"n = {m['n']:,}",
                decisive=True,
            )
        )
        sentences.append(
            f"{model}: {_pct(m['rate'])} acceptable (95 % CI {_pct(lo)} to {_pct(hi)}) "
            f"of {m['n']:,} outputs."
        )
    description = (
        "Share of each model's outputs that reviewers judged acceptable, with 95 % Wilson "
        "intervals. " + (" ".join(sentences) if sentences else "No output judged yet.")
    )
    return interval_plot(
        rows,
        plot_id=plot_id,
        title="Acceptable outputs",
        description=description,
        axis=(0.0, 1.0),
        ticks=[0, 0.25, 0.5, 0.75, 1.0],
        tick_label=_pct,
    )
