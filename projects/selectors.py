from uuid import UUID

from django.db.models import QuerySet
from rest_framework.generics import get_object_or_404

from projects import repository
from projects.models import Project
from projects.nodes import workflow_nodes


def project_list() -> QuerySet[Project]:
    """Every project, newest first."""
    return Project.objects.order_by("-created_at")


def project_get(*, project_id: UUID | str) -> Project:
    return get_object_or_404(Project.objects, pk=project_id)


def project_nodes(*, project: Project) -> list[dict]:
    return workflow_nodes(code=project.current_code)


def project_commits(*, project: Project) -> list[dict]:
    return [
        {
            "sha": commit.sha,
            "message": commit.message,
            "author": commit.author_name,
            "author_email": commit.author_email,
            "committed_at": commit.committed_at,
            "diff_id": commit.trailers.get("Vibegrapher-Diff"),
            "session_id": commit.trailers.get("Vibegrapher-Session"),
        }
        for commit in repository.repository_log(path=repository.repository_path(slug=project.slug))
    ]
