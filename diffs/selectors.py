from uuid import UUID

from diffs.models import Diff
from vibegrapher.errors import InvalidInput
from vibegrapher.lookups import get_or_404


def diff_get(*, diff_id: UUID | str) -> Diff:
    return get_or_404(Diff.objects.select_related("project", "session"), pk=diff_id, label="Diff")


def diff_list(*, project_id: UUID | str | None = None, session_id: UUID | str | None = None, status: str | None = None) -> list[Diff]:
    diffs = Diff.objects.order_by("-created_at")
    if project_id is not None:
        diffs = diffs.filter(project_id=project_id)
    if session_id is not None:
        diffs = diffs.filter(session_id=session_id)
    if status is not None:
        if status not in Diff.Status.values:
            raise InvalidInput(
                f"Unknown status {status!r}; use one of {', '.join(Diff.Status.values)}.",
                errors={"status": ["Unknown status."]},
            )
        diffs = diffs.filter(status=status)
    return list(diffs)
