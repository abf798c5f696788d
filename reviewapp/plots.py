"""Server-side SVG plots of the results: no JavaScript, no CDN, readable without colour.

Each plot is an `<svg role="img">` labelled by its `<title>` and `<desc>`; the desc is a
full text alternative (every row's figures), and the page also shows the same numbers in
a table. Every piece of text comes from `html.escape`: model and reviewer names are
untrusted (they come from uploaded files).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH = 720
LABEL_WIDTH = 230  # model names on the left
NOTE_WIDTH = 90  # "n = 412" on the right
ROW_HEIGHT = 28
TOP = 12
AXIS_HEIGHT = 44
MAX_LABEL_CHARS = 34


@dataclass(frozen=True)
class Row:
    label: str
    point: float | None
    low: float | None
    high: float | None
    note: str = ""
    # Filled marker when the interval excludes the reference line, hollow otherwise.
    decisive: bool = False


def _pct(value: float) -> str:
    return f"{100 * value:.0f} %"


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


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
    height = TOP + ROW_HEIGHT * max(len(rows), 1) + AXIS_HEIGHT

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
    axis_y = TOP + ROW_HEIGHT * max(len(rows), 1)
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
        cy = TOP + ROW_HEIGHT * i + ROW_HEIGHT / 2
        label = _short(row.label)
        parts.append(
            f'<text class="row-label" x="{LABEL_WIDTH - 10}" y="{_num(cy + 4)}" '
            f'text-anchor="end">{escape(label)}'
            + (f"<title>{escape(row.label)}</title>" if label != row.label else "")
            + "</text>"
        )
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


def forest_plot(dimension: str, pairs: list[dict], *, plot_id: str) -> str:
    """Win rate of X over Y (decided judgments) with its 95 % Wilson interval, per pair."""
    rows, sentences = [], []
    for pair in pairs:
        label = f"{pair['model_x']} vs {pair['model_y']}"
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
            )
        )
        if rate is None:
            sentences.append(f"{label}: no decided judgments ({pair['ties']} ties).")
        else:
            sentences.append(
                f"{label}: {pair['model_x']} wins {_pct(rate)} (95 % CI {_pct(lo)} to "
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
        axis=(0.0, 1.0),
        ticks=[0, 0.25, 0.5, 0.75, 1.0],
        tick_label=_pct,
        reference=0.5,  # the 50 % tick labels it
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
    rows, sentences = [], []
    for m in models:
        lo, hi = m["rating_ci"]
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
            sentences.append(f"{m['model']}: no rating.")
        else:
            interval = "" if lo is None else f" (95 % interval {lo:.0f} to {hi:.0f})"
            sentences.append(f"{m['model']}: {m['rating']:.0f}{interval}, rank {m['rank']}.")
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
