import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from django.db import DatabaseError, IntegrityError, transaction
from slugify import slugify

from projects import repository
from projects.models import Project
from projects.nodes import workflow_nodes
from projects.repository import WORKFLOW_FILE
from projects.starter_code import STARTER_WORKFLOW
from sessions import events
from sessions.runs import run_in_progress
from sessions.vibecoder.memory import memory_forget
from vibegrapher.errors import Conflict, InvalidInput, NotFound

logger = logging.getLogger(__name__)

INITIAL_COMMIT_MESSAGE = "Initial agent code"
IMPORT_COMMIT_MESSAGE = "Import workflow"
NO_AGENT_WARNING = "The workflow defines no Agent(...); it has no nodes to edit until one is added."
_SLUG_ATTEMPTS = 20


def _free_slug(base: str) -> str:
    taken = set(Project.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def project_create(*, name: str, code: str = STARTER_WORKFLOW, message: str = INITIAL_COMMIT_MESSAGE) -> Project:
    """Create the project row and its git repository, whose first commit holds `code`."""
    name = name.strip()
    base = slugify(name, max_length=100, word_boundary=True)
    if not base:
        raise InvalidInput(
            f"The name {name!r} has no letters or digits to make a slug from.",
            errors={"name": ["Cannot be slugified."]},
        )
    staging, head = repository.repository_build(code=code, message=message)
    try:
        for attempt in range(_SLUG_ATTEMPTS):
            # Names are usually new: try the plain slug, and look at the taken ones only when it is not.
            slug = base if attempt == 0 else _free_slug(base)
            path = repository.repository_path(slug=slug)
            try:
                with transaction.atomic():
                    project = Project.objects.create(
                        name=name,
                        slug=slug,
                        repository_path=str(path),
                        current_code=head.code,
                        current_commit=head.sha,
                    )
                    # Inside the transaction: the unique slug makes this folder ours alone.
                    repository.repository_install(staging=staging, slug=slug)
                return project
            except IntegrityError:
                continue  # another project has this slug; pick the next free one
    finally:
        if staging.exists():
            repository.repository_discard(staging=staging)
    raise InvalidInput(f"Could not find a free slug for {name!r}; try another name.")


def workflow_check(*, code: str) -> str | None:
    """Raise InvalidInput naming the line and column when `code` does not compile; return a warning
    when it compiles but defines no agent (the code is never executed)."""
    try:
        compile(code, WORKFLOW_FILE, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        if isinstance(exc, SyntaxError):
            where = f"line {exc.lineno}, column {exc.offset}"
            reason = exc.msg
        else:  # e.g. a NUL byte in the source
            where, reason = "line 1, column 1", str(exc)
        raise InvalidInput(
            f"The workflow does not compile: {reason} at {where}.",
            errors={"code": [f"{reason} ({where})."]},
        ) from exc
    return None if workflow_nodes(code=code) else NO_AGENT_WARNING


def project_import(*, name: str, code: str) -> tuple[Project, str | None]:
    """Create a project whose first commit holds exactly `code`, after checking it compiles."""
    warning = workflow_check(code=code)
    return project_create(name=name, code=code, message=IMPORT_COMMIT_MESSAGE), warning


def project_delete(*, project: Project) -> None:
    """Delete the project and everything under it; its files go once the delete has committed."""
    if run_in_progress(project_id=project.id):
        raise Conflict("A vibecode run is in progress in this project; wait for it to finish before deleting it.")
    slug = project.slug
    try:
        with transaction.atomic():
            project.delete()
            transaction.on_commit(lambda: _files_delete(slug))
    except IntegrityError:  # a session, message or run was added under it between the collect and the delete
        raise Conflict("The project changed while it was being deleted (a run started in it); try again.") from None


def _files_delete(slug: str) -> None:
    memory_forget(db_path=repository.conversations_db_path(slug=slug))
    repository.repository_delete(slug=slug)


# --- Moving main: one writer per project at a time -------------------------------------------------


@dataclass
class MainChange:
    """The locked project and main's head, inside the transaction that will move main."""

    project: Project
    head: repository.Head
    path: Path
    new_head: repository.Head | None = None

    def commit(self, *, code: str, message: str, diff_id: UUID | str | None) -> repository.Head:
        """Commit `code` on main, record it on the project and announce `code_changed` once stored."""
        if self.new_head is not None:
            raise RuntimeError("One MainChange makes one commit.")
        self.new_head = repository.repository_commit(
            path=self.path, code=code, message=message, parent_sha=self.head.sha
        )
        project_head_update(project=self.project, head=self.new_head, diff_id=diff_id)
        return self.new_head


@contextmanager
def main_change(*, project_id: UUID | str) -> Iterator[MainChange]:
    """Serialize writers of one project's `main` and keep git and the database in agreement.

    The project row is locked (`select_for_update`; on SQLite the IMMEDIATE transaction already
    serializes writers) before main's head is read. If the database change does not commit, main is
    moved back to where it was, so a commit exists in git only when the database records it.
    """
    change: MainChange | None = None
    try:
        with transaction.atomic():
            project = Project.objects.select_for_update().get(pk=project_id)
            path = repository.repository_path(slug=project.slug)
            change = MainChange(project=project, head=_head_in_agreement(project=project, path=path), path=path)
            try:
                yield change
            except BaseException:
                _undo_commit(change)  # still holding the lock
                raise
    except BaseException:
        # The COMMIT itself may have failed after the block ran; undo unless the database holds the commit.
        if change is not None and change.new_head is not None and not _commit_recorded(change, change.new_head):
            _undo_commit(change)
        raise


def _undo_commit(change: MainChange) -> None:
    if change.new_head is None:
        return
    undone, change.new_head = change.new_head, None
    if repository.repository_branch_reset(path=change.path, from_sha=undone.sha, to_sha=change.head.sha):
        logger.warning(
            "Moved main of %s back to %s: the database did not record commit %s",
            change.project.slug,
            change.head.sha,
            undone.sha,
        )


def _commit_recorded(change: MainChange, new_head: repository.Head) -> bool:
    try:
        return Project.objects.filter(pk=change.project.pk, current_commit=new_head.sha).exists()
    except DatabaseError:
        logger.exception("Could not check whether commit %s was recorded; main is left as it is", new_head.sha)
        return True


def _head_in_agreement(*, project: Project, path: Path) -> repository.Head:
    """Main's head, which must be the commit the database records. A head ahead of it is a commit whose
    transaction never committed (a process that died between the two); main is moved back to the record."""
    head = repository.repository_head(path=path)
    if head.sha == project.current_commit:
        return head
    if project.current_commit and repository.repository_descends_from(
        path=path, sha=head.sha, ancestor=project.current_commit
    ):
        logger.warning(
            "main of %s is at %s, ahead of the recorded %s; moving it back to the record",
            project.slug,
            head.sha,
            project.current_commit,
        )
        repository.repository_branch_reset(path=path, from_sha=head.sha, to_sha=project.current_commit)
        return repository.repository_head(path=path)
    raise Conflict(
        f"The repository of project {project.name!r} has main at {head.sha[:12]}, but the project records "
        f"{project.current_commit[:12] or 'no commit'}; fix the repository before committing."
    )


def project_head_update(*, project: Project, head: repository.Head, diff_id: UUID | str | None) -> Project:
    """Record main's new head on the project and broadcast `code_changed` once the transaction commits."""
    project.current_code, project.current_commit = head.code, head.sha
    project.save(update_fields=["current_code", "current_commit", "updated_at"])
    events.event_publish(
        project_id=project.id,
        event_type=events.CODE_CHANGED,
        data=events.code_changed_data(project_id=project.id, new_code=head.code, commit_sha=head.sha, diff_id=diff_id),
    )
    return project


def project_revert(*, project: Project, commit_sha: str) -> Project:
    """Add a commit on main that undoes the change of `commit_sha`; history is never rewritten."""
    with main_change(project_id=project.id) as change:
        path = change.path
        try:
            reverted = repository.repository_revert(path=path, sha=commit_sha)
        except repository.UnknownCommitError as exc:
            raise NotFound(f"Project {change.project.name!r} has no commit {commit_sha} on main.") from exc
        except repository.MergeConflictError as exc:
            raise Conflict(str(exc)) from exc
        except repository.RepositoryError as exc:
            raise Conflict(f"Cannot revert: {exc}") from exc
        if reverted.code == change.head.code:
            raise Conflict(f"Reverting {reverted.sha[:12]} changes nothing: its change is no longer on main.")
        message = f'Revert "{reverted.subject}"\n\nThis reverts commit {reverted.sha}.\n'
        change.commit(code=reverted.code, message=message, diff_id=None)
    return change.project
