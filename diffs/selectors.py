from uuid import UUID

from rest_framework.generics import get_object_or_404

from diffs.models import Diff
from projects import repository
from vibegrapher.errors import InvalidInput


def diff_get(*, diff_id: UUID | str) -> Diff:
    return get_object_or_404(Diff.objects.select_related("project", "session"), pk=diff_id)


def diff_list(
    *, project_id: UUID | str | None = None, session_id: UUID | str | None = None, status: str | None = None
) -> list[Diff]:
    diffs = Diff.objects.order_by("-created_at")
    if project_id is not None:
        diffs = diffs.filter(project_id=project_id)
    if session_id is not None:
        diffs = diffs.filter(session_id=session_id)  # type: ignore[misc]  # django-stubs: a str `<fk>_id` passes only when the FK is named after its model
    if status is not None:
        if status not in Diff.Status.values:
            raise InvalidInput(
                f"Unknown status {status!r}; use one of {', '.join(Diff.Status.values)}.",
                errors={"status": ["Unknown status."]},
            )
        diffs = diffs.filter(status=status)
    return list(diffs)


def diff_preview(*, diff: Diff) -> dict:
    """The file before (at the diff's base commit, read from git) and after the diff."""
    original = repository.repository_file_at(
        path=repository.repository_path(slug=diff.project.slug), sha=diff.base_commit
    )
    return {
        "diff_id": diff.id,
        "original_code": original,
        "preview_code": diff.new_code,
        "diff_content": diff.diff_content,
        "commit_message": diff.commit_message,
    }
