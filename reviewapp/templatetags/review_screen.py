"""Position words of the review screen: the outputs sit side by side on a wide screen
("Left"/"Right") and one above the other on a narrow one ("Top"/"Bottom"). Both words are in
the page and the stylesheet shows the one that matches the layout (app.css, `.side-wide` /
`.side-narrow`), so the headings and the answer buttons always name the outputs as shown.

The words depend on the screen side only, never on which model wrote the output.
"""

from django import template
from django.utils.html import format_html

register = template.Library()

# Screen side (the value prefix of an answer, see views.review.option_list) -> its words.
SIDE_WORDS = {"left": ("Left", "Top"), "right": ("Right", "Bottom")}


def side_markup(side: str, lower: bool = False) -> str:
    wide, narrow = SIDE_WORDS[side]
    if lower:
        wide, narrow = wide.lower(), narrow.lower()
    return format_html(
        '<span class="side-wide">{}</span><span class="side-narrow">{}</span>', wide, narrow
    )


@register.simple_tag
def side_word(side: str):
    """`{% side_word "left" %}`: the heading word of that screen side."""
    return side_markup(side)


@register.filter
def option_label(option: dict, case: str = ""):
    """`{{ o|option_label }}`: an answer's label with its side word in both layouts
    ("Left clearly better" reads "Top clearly better" on a narrow screen). `case="lower"`
    lower-cases it for running text."""
    label = option["label"]
    side = option["value"].partition(":")[0]
    lower = case == "lower"
    if side not in SIDE_WORDS:
        return label.lower() if lower else label
    rest = label.removeprefix(SIDE_WORDS[side][0])
    return format_html("{}{}", side_markup(side, lower), rest)
