"""Per-row counters (message and event sequence numbers) incremented atomically in one query."""

from uuid import UUID

from django.db import connection
from django.db.models import Model


def counter_advance(*, model: type[Model], pk: UUID | str, field: str, by: int = 1) -> int:
    """Add `by` to `model.field` of row `pk` and return the new value.

    One `UPDATE ... RETURNING` (SQLite >= 3.35, PostgreSQL): the row stays locked until the caller's
    transaction ends, so concurrent callers get distinct, gapless values.
    """
    meta = model._meta
    column = connection.ops.quote_name(meta.get_field(field).column)
    table = connection.ops.quote_name(meta.db_table)
    key = meta.pk.get_db_prep_value(pk if isinstance(pk, UUID) else UUID(str(pk)), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = {column} + %s WHERE {connection.ops.quote_name(meta.pk.column)} = %s "
            f"RETURNING {column}",
            [by, key],
        )
        row = cursor.fetchone()
    if row is None:
        raise meta.model.DoesNotExist(f"No {meta.verbose_name} {pk}.")
    return row[0]
