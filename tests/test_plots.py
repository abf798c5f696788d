"""The results plots: long model names fit left of the plot, shortened with an ellipsis and
kept whole in a <title>; untrusted names are escaped. No database."""

import xml.etree.ElementTree as ET

import pytest

from reviewapp.plots import (
    ELLIPSIS,
    LABEL_GAP,
    LABEL_WIDTH,
    WIDTH,
    fit_text,
    forest_plot,
    ratings_plot,
    text_width,
)

SVG = "{http://www.w3.org/2000/svg}"
LONG_X = "an-organisation-with-a-long-name/Meta-Llama-3.1-405B-Instruct-Turbo-dpo-lora-v2"
LONG_Y = "another-organisation/Mixtral-8x22B-Instruct-v0.1-with-a-very-long-suffix-v3"
WIDE = "WMWMWMWMWMWMWMWMWMWMWMWMWMWMWMWMWMWMWMWM-end"  # the widest letters there are
CJK = "模型名称很长的中文模型名称很长的中文模型名称很长的中文-v1"
HOSTILE = '<script>alert("x")</script> & "quoted" \'model\' ' * 3


def a_pair(x: str, y: str, x_wins: int = 30, y_wins: int = 20) -> dict:
    decided = x_wins + y_wins
    return {
        "model_x": x, "model_y": y, "x_win_rate": x_wins / decided,
        "x_win_rate_ci": (0.45, 0.72), "decided": decided, "ties": 3,
        "ci_excludes_half": False,
    }  # fmt: skip


def a_model(name: str, rating: float, rank: int) -> dict:
    return {"model": name, "rating": rating, "rating_ci": (rating - 40, rating + 40), "rank": rank}


def svg_of(markup: str) -> ET.Element:
    """Parsed as XML: only well-formed, fully escaped markup parses."""
    return ET.fromstring(markup)


def row_labels(svg: ET.Element) -> list[ET.Element]:
    return [t for t in svg.iter(f"{SVG}text") if t.get("class") == "row-label"]


def shown_lines(label: ET.Element) -> list[str]:
    return [tspan.text for tspan in label.iter(f"{SVG}tspan")]


def title_of(label: ET.Element) -> str | None:
    title = label.find(f"{SVG}title")
    return None if title is None else title.text


def assert_fits(svg: ET.Element) -> None:
    """Every text starts at x >= 0 and, right-aligned at its x, no label line reaches past
    the left edge or into the plot."""
    for text in svg.iter(f"{SVG}text"):
        assert float(text.get("x")) >= 0
        for tspan in text.iter(f"{SVG}tspan"):
            assert float(tspan.get("x")) >= 0
    for label in row_labels(svg):
        assert label.get("text-anchor") == "end"
        right = float(label.get("x"))
        assert right <= LABEL_WIDTH - LABEL_GAP
        for line in shown_lines(label):
            assert right - text_width(line) >= 0, line


@pytest.mark.parametrize("x,y", [(LONG_X, LONG_Y), (WIDE, CJK), (CJK, "base")])
def test_forest_plot_long_names_are_shortened_with_ellipsis_and_title(x, y):
    svg = svg_of(forest_plot("overall", [a_pair(x, y), a_pair("base", "ft")], plot_id="f"))
    assert_fits(svg)
    long, short = row_labels(svg)
    # Two lines, each model's start and end visible, never a name silently cut off.
    first, second = shown_lines(long)
    for line, name in ((first, x), (second, f"vs {y}")):
        if line != name:
            assert ELLIPSIS in line
            head, tail = line.split(ELLIPSIS)
            assert name.startswith(head) and name.endswith(tail)
            assert len(head) >= 8 and len(tail) >= 8
    assert title_of(long) == f"{x} vs {y}"
    assert shown_lines(short) == ["base", "vs ft"] and title_of(short) is None
    assert float(svg.get("viewBox").split()[2]) == WIDTH


def test_forest_plot_of_the_old_defect_keeps_the_second_model():
    # Before, "X vs Y" was cut after 33 characters: Y vanished and the text ran off the left.
    x, y = "meta-llama/Llama-2-70b-chat-hf", "mistralai/Mixtral-8x7B-Instruct-v0.1"
    svg = svg_of(forest_plot("overall", [a_pair(x, y)], plot_id="f"))
    assert_fits(svg)
    (label,) = row_labels(svg)
    first, second = shown_lines(label)
    assert first == x
    assert second.startswith("vs mistralai/") and second.endswith("Instruct-v0.1")


def test_ratings_plot_long_names_are_shortened_with_ellipsis_and_title():
    models = [a_model(LONG_X, 1080, 1), a_model(WIDE, 1000, 2), a_model("base", 920, 3)]
    svg = svg_of(ratings_plot("overall", models, plot_id="r"))
    assert_fits(svg)
    labels = row_labels(svg)
    for label, model in zip(labels[:2], models[:2], strict=True):
        (line,) = shown_lines(label)
        assert ELLIPSIS in line and title_of(label) == model["model"]
    assert shown_lines(labels[2]) == ["base"] and title_of(labels[2]) is None


def test_untrusted_names_are_escaped_everywhere():
    pairs = [a_pair(HOSTILE, "b&b"), a_pair("ok", HOSTILE)]
    models = [a_model(HOSTILE, 1050, 1), a_model("b&b", 1000, 2), a_model("ok", 950, 3)]
    for markup in (
        forest_plot(HOSTILE, pairs, plot_id='x"><script>'),
        ratings_plot(HOSTILE, models, plot_id="r"),
    ):
        assert "<script" not in markup and 'x"><' not in markup
        svg = svg_of(markup)  # raw & or < would not parse
        assert_fits(svg)
        titles = [title_of(label) for label in row_labels(svg)]
        assert any(title and HOSTILE.strip() in title for title in titles)


def test_fit_text_keeps_short_text_and_shortens_long_text_within_width():
    assert fit_text("gpt-4", 100) == "gpt-4"
    for text in (LONG_X, WIDE, CJK, "x" * 500):
        short = fit_text(text, 150)
        assert text_width(short) <= 150 and short.count(ELLIPSIS) == 1


def test_text_width_is_not_below_dejavu_sans():
    # Advance widths (em) of DejaVu Sans, measured in Chromium: the widest of each class.
    measured = {
        "W": 0.989, "m": 0.974, "%": 0.95, "M": 0.863, "w": 0.818, "=": 0.838, "O": 0.787,
        "&": 0.78, "G": 0.775, "K": 0.656, "0": 0.636, "g": 0.635, "Y": 0.611, "z": 0.525,
        "r": 0.411, "-": 0.361, "f": 0.352, "/": 0.337, " ": 0.318, "J": 0.295, "l": 0.278,
        "…": 1.0, "Ж": 1.077, "😀": 1.042,
    }  # fmt: skip
    for char, em in measured.items():
        assert text_width(char, font_size=100) >= 100 * em, char
