from uuid import UUID

from rest_framework.generics import get_object_or_404

from diffs.models import Diff
from projects import repository
from projects.graph import graph_svg, workflow_changes
from projects.models import Project
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


def diff_base_code(*, project_id: UUID | str, base_commit: str) -> str:
    """The workflow file at a diff's base commit, read from git."""
    slug = Project.objects.values_list("slug", flat=True).get(pk=project_id)
    return repository.repository_file_at(path=repository.repository_path(slug=slug), sha=base_commit)


def diff_preview(*, diff: Diff) -> dict:
    """The file before (at the diff's base commit) and after the diff, and the agents it changes."""
    original = diff_base_code(project_id=diff.project_id, base_commit=diff.base_commit)
    return {
        "changes": workflow_changes(before=original, after=diff.new_code),
        "diff_id": diff.id,
        "original_code": original,
        "preview_code": diff.new_code,
        "diff_content": diff.diff_content,
        "commit_message": diff.commit_message,
    }


def diff_graphs(*, diff: Diff) -> tuple[str, str]:
    """The workflow graph as SVG before and after the diff (runs `dot` twice: call it off the event loop)."""
    before = diff_base_code(project_id=diff.project_id, base_commit=diff.base_commit)
    return graph_svg(code=before), graph_svg(code=diff.new_code)
