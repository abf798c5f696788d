"""`{{ name|isolate }}`: an untrusted one-line string that cannot reorder the text around
it (see rendering.isolate_text). A builtin (settings.TEMPLATES), so no {% load %}."""

from django import template

from ..rendering import isolate_text

register = template.Library()
register.filter("isolate", isolate_text, is_safe=True)  # adds no markup
