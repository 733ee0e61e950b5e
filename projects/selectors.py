from uuid import UUID

from projects import repository
from projects.models import Project
from projects.nodes import workflow_nodes
from vibegrapher.errors import NotFound


def project_list() -> list[Project]:
    return list(Project.objects.order_by("-created_at"))


def project_get(*, project_id: UUID | str) -> Project:
    try:
        return Project.objects.get(pk=project_id)
    except (Project.DoesNotExist, ValueError) as exc:
        raise NotFound(f"Project {project_id} not found.") from exc


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
