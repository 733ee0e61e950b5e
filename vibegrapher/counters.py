"""Per-row counters (message and event sequence numbers) incremented atomically in one query."""

from uuid import UUID

from django.db import connection
from django.db.models import Field, Model


def _quoted_column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a database column.")
    return connection.ops.quote_name(field.column)


def counter_advance(*, model: type[Model], pk: UUID | str, field: str, by: int = 1) -> int:
    """Add `by` to `model.field` of row `pk` and return the new value.

    One `UPDATE ... RETURNING` (SQLite >= 3.35, PostgreSQL): the row stays locked until the caller's
    transaction ends, so concurrent callers get distinct, gapless values.
    """
    meta = model._meta
    column = _quoted_column(model, field)
    table = connection.ops.quote_name(meta.db_table)
    key = meta.pk.get_db_prep_value(pk if isinstance(pk, UUID) else UUID(str(pk)), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = {column} + %s WHERE {_quoted_column(model, meta.pk.name)} = %s "
            f"RETURNING {column}",
            [by, key],
        )
        row = cursor.fetchone()
    if row is None:
        # Every concrete model has its own DoesNotExist; the stubs drop it from type[Model] (abstract models lack it).
        raise model.DoesNotExist(f"No {meta.verbose_name} {pk}.")  # type: ignore[attr-defined]
    return row[0]
