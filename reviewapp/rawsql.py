"""Model instances from hand-written SQL, for the few queries of the review loop that run
on every request (the ORM spends longer building those queries than the database spends
answering them).

Values go through the same converters the ORM applies, so an instance read here is the
instance the ORM would give: SQLite returns booleans as 0/1, JSON and datetimes as text.
"""

from functools import cache

from django.db import connection


@cache
def _fields(model) -> list:
    return list(model._meta.concrete_fields)


@cache
def columns(model, alias: str) -> str:
    """The model's columns, in the order instance() reads them: `alias."column", ...`
    (unqualified with an empty alias, as RETURNING needs)."""
    quote = connection.ops.quote_name
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{quote(field.column)}" for field in _fields(model))


@cache
def _converters(model) -> list[tuple]:
    plan = []
    for field in _fields(model):
        column = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        plan.append((column, found))
    return plan


def instance(model, values):
    """A model instance from one row's values for columns(model, ...), in that order."""
    converted = []
    for value, (column, converters) in zip(values, _converters(model), strict=True):
        for convert in converters:
            value = convert(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in _fields(model)], converted)


def width(model) -> int:
    return len(_fields(model))
