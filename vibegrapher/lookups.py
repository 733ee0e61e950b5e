import uuid
from typing import TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Manager, Model, QuerySet

from vibegrapher.errors import NotFound

_M = TypeVar("_M", bound=Model)


def get_or_404(queryset: QuerySet[_M] | Manager[_M], *, pk: object, label: str) -> _M:
    """The row with that id; a malformed id is as unknown as a missing one (404, never 500)."""
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise NotFound(f"{label} {pk} not found.") from None
    try:
        return queryset.get(pk=key)
    except ObjectDoesNotExist:  # the model's own DoesNotExist, which is all that get() raises for a missing row
        raise NotFound(f"{label} {pk} not found.") from None
