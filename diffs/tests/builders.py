"""Factories of the workflows, patches and diffs that the review and commit tests start from (plain
functions: each makes real rows and a real repository through the services)."""

from pathlib import Path

from diffs import services
from diffs.models import Diff
from projects import repository
from projects.models import Project
from projects.services import project_create
from projects.starter_code import STARTER_WORKFLOW
from sessions.models import VibecodeSession
from sessions.services import session_get_or_create
from sessions.vibecoder.patching import unified_diff
from tests.samples import PIRATE_PATCH

HELPFUL = "You are a helpful assistant."
PIRATE_CODE = STARTER_WORKFLOW.replace(HELPFUL, "You are a pirate assistant.")
ROBOT_CODE = STARTER_WORKFLOW.replace(HELPFUL, "You are a robot assistant.")
# Changes the docstring on line 1, far from the instructions on line 7: merges cleanly with either.
DOCSTRING_CODE = STARTER_WORKFLOW.replace(
    '"""A minimal OpenAI Agents SDK workflow.', '"""A small OpenAI Agents SDK workflow.'
)

ROBOT_PATCH = PIRATE_PATCH.replace("pirate", "robot")


def project_with_session(name: str = "Review") -> tuple[Project, VibecodeSession]:
    project = project_create(name=name)
    session, _ = session_get_or_create(project=project, session_type=None, node_id=None)
    return project, session


def proposed_diff(
    *,
    project: Project,
    session: VibecodeSession,
    new_code: str,
    base_commit: str | None = None,
    message: str = "Change it",
) -> Diff:
    base_commit = base_commit or project.current_commit
    base_code = repository.repository_file_at(path=repo_path(project), sha=base_commit)
    return services.diff_create_proposed(
        session_id=session.id,
        project_id=project.id,
        base_commit=base_commit,
        diff_content=unified_diff(old=base_code, new=new_code),
        new_code=new_code,
        vibecoder_prompt="Change it",
        evaluator_reasoning="Does what was asked.",
        commit_message=message,
        messages=[],
    )


def approved_diff(**kwargs) -> Diff:
    return services.diff_approve(diff=proposed_diff(**kwargs))


def pending_diff(
    *, name: str = "Review", new_code: str = PIRATE_CODE, message: str = "Change it"
) -> tuple[Project, VibecodeSession, Diff]:
    """A new project, its global session, and a diff of it waiting for review."""
    project, session = project_with_session(name)
    return project, session, proposed_diff(project=project, session=session, new_code=new_code, message=message)


def human_approved_diff(**kwargs) -> tuple[Project, VibecodeSession, Diff]:
    """As `pending_diff`, the diff approved by a human (ready to commit)."""
    project, session, diff = pending_diff(**kwargs)
    return project, session, services.diff_approve(diff=diff)


def repo_path(project: Project) -> Path:
    return repository.repository_path(slug=project.slug)
