import uuid

from django.db.models import Model, QuerySet

from vibegrapher.errors import NotFound


def get_or_404(queryset: QuerySet, *, pk: object, label: str) -> Model:
    """The row with that id; a malformed id is as unknown as a missing one (404, never 500)."""
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise NotFound(f"{label} {pk} not found.") from None
    try:
        return queryset.get(pk=key)
    except queryset.model.DoesNotExist:
        raise NotFound(f"{label} {pk} not found.") from None
