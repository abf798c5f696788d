"""`{{ n|thousands }}`: a count as pages show it, with thousands separators ("10,155").

One format for every page: the same as the `f"{n:,}"` of the messages built in Python
(upload summaries, the verdict). CSV and JSON carry plain numbers and never pass through
here. A builtin (settings.TEMPLATES), so no {% load %}.
"""

import operator

from django import template

register = template.Library()


@register.filter(is_safe=True)
def thousands(value):
    """Whole numbers (numpy's too) get separators; anything else (None, "", text, a float)
    is shown unchanged."""
    if isinstance(value, bool):
        return value
    try:
        return f"{operator.index(value):,}"
    except TypeError:
        return value
