# Kept (project_list/project_detail): the ORM + ModelSerializer instead cost GET /projects c1 642 -> 256 req/s, GET /projects/:id c1 774 -> 364 (bench/rest_load.py, uvicorn x1, medians of 3).
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from uuid import UUID

from django.db import connections
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from rest_framework.generics import get_object_or_404

from projects import repository
from projects.graph import graph_svg, workflow_graph
from projects.models import Project
from projects.nodes import workflow_nodes
from vibegrapher.errors import InvalidInput, NotFound

# The fields of a project as the API shows them (ProjectSerializer), in that order.
PROJECT_FIELDS = (
    "id",
    "name",
    "slug",
    "repository_path",
    "current_code",
    "current_commit",
    "current_branch",
    "created_at",
    "updated_at",
)


def project_list() -> list[dict]:
    """Every project, newest first, as the JSON objects `GET /projects` returns.

    The list is the most requested read, so it skips what costs most per row: the query is compiled
    by the ORM once per database, and rows go straight to JSON values without model instances or
    serializer fields (2.1 ms -> 0.3 ms for 20 projects). `ProjectSerializer` gives the same objects
    (it answers `POST /projects`); the tests hold the two to the same output.
    """
    alias = Project.objects.db
    with connections[alias].cursor() as cursor:
        cursor.execute(_project_list_sql(alias))
        return [_project_json(row) for row in cursor.fetchall()]


def project_detail(*, project_id: UUID | str) -> dict:
    """One project as `GET /projects/:id` returns it, by the list's path: 0.57 ms -> 0.08 ms of CPU
    against an ORM `get` and `ProjectSerializer`. A malformed id is as unknown as a missing one."""
    try:
        key = UUID(str(project_id))
    except ValueError:
        raise NotFound(f"Project {project_id} not found.") from None
    alias = Project.objects.db
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(_project_detail_sql(alias), [Project._meta.pk.get_db_prep_value(key, connection)])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"Project {project_id} not found.")
    return _project_json(row)


def _project_json(row: tuple) -> dict:
    id_, name, slug, repository_path, current_code, current_commit, current_branch, created_at, updated_at = row
    return {
        "id": _uuid_text(id_),
        "name": name,
        "slug": slug,
        "repository_path": repository_path,
        "current_code": current_code,
        "current_commit": current_commit,
        "current_branch": current_branch,
        "created_at": _timestamp_text(created_at),
        "updated_at": _timestamp_text(updated_at),
    }


def _project_rows(alias: str) -> QuerySet:
    """The rows of PROJECT_FIELDS. SQLite's timestamps come back as the text Django stored: its
    `datetime` converter would parse them into objects only for `_timestamp_text` to write them out
    again, half the time the list takes."""
    queryset = Project.objects.using(alias)
    if connections[alias].vendor != "sqlite":
        return queryset.values_list(*PROJECT_FIELDS)
    texts = {f"{name}_text": Cast(name, TextField()) for name in ("created_at", "updated_at")}
    return queryset.annotate(**texts).values_list(*PROJECT_FIELDS[:-2], *texts)


@cache
def _project_list_sql(alias: str) -> str:
    queryset = _project_rows(alias).order_by("-created_at")
    sql, params = queryset.query.get_compiler(using=alias).as_sql()
    if params:
        raise AssertionError(f"The project list query should take no parameters, got {params!r}.")
    return sql


@cache
def _project_detail_sql(alias: str) -> str:
    queryset = _project_rows(alias).filter(pk=UUID(int=0))
    sql, params = queryset.query.get_compiler(using=alias).as_sql()
    if len(params) != 1:
        raise AssertionError(f"The project query should take the id as its one parameter, got {params!r}.")
    return sql


def _uuid_text(value: UUID | str) -> str:
    # PostgreSQL returns UUIDs; SQLite the 32 lowercase hex digits Django stores, which only need
    # their hyphens (a third of the cost of parsing them into a UUID and back).
    if isinstance(value, str) and len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return str(value if isinstance(value, UUID) else UUID(value))


def _timestamp_text(value: datetime | str) -> str:
    """A stored timestamp as DRF's DateTimeField writes it (ISO 8601, UTC as `Z`)."""
    if isinstance(value, str):  # SQLite: naive UTC as `str(datetime)`, "YYYY-MM-DD HH:MM:SS[.ffffff]"
        if len(value) in (19, 26) and value[10] == " ":
            return f"{value[:10]}T{value[11:]}Z"  # what the parse and isoformat below give, without them
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # stored naive, in UTC
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def project_get(*, project_id: UUID | str) -> Project:
    return get_object_or_404(Project.objects, pk=project_id)


def project_nodes(*, project: Project) -> list[dict]:
    return workflow_nodes(code=project.current_code)


def project_workflow_file(*, project: Project, commit: str | None) -> str:
    """The workflow file at main's head, or at `commit` (a full 40-hex id) of this repository."""
    if commit is None:
        return project.current_code
    if not repository.COMMIT_SHA.fullmatch(commit):
        raise InvalidInput(
            f"{commit!r} is not a commit id (40 hexadecimal digits).", errors={"commit": ["Not a commit id."]}
        )
    try:
        return repository.repository_file_at(path=Path(project.repository_path), sha=commit.lower())
    except repository.RepositoryError as exc:
        raise NotFound(f"Project {project.id} has no commit {commit}.") from exc


def project_graph(*, project: Project, commit: str | None) -> dict:
    return workflow_graph(code=project_workflow_file(project=project, commit=commit))


def project_graph_svg(*, project: Project, commit: str | None) -> str:
    return graph_svg(code=project_workflow_file(project=project, commit=commit))


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
