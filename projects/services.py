import logging
import shutil

from django.db import IntegrityError, transaction
from slugify import slugify

from projects import repository
from projects.models import Project
from projects.starter_code import STARTER_WORKFLOW
from vibegrapher.errors import InvalidInput

logger = logging.getLogger(__name__)

INITIAL_COMMIT_MESSAGE = "Initial agent code"
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
            f"The name {name!r} has no letters or digits to make a slug from.", errors={"name": ["Cannot be slugified."]}
        )
    for _ in range(_SLUG_ATTEMPTS):
        slug = _free_slug(base)
        path = repository.repository_path(slug=slug)
        try:
            with transaction.atomic():
                project = Project.objects.create(name=name, slug=slug, repository_path=str(path))
                if path.exists():  # left behind by a process that died before its row committed
                    shutil.rmtree(path)
                try:
                    head = repository.repository_create(slug=slug, code=code, message=message)
                except BaseException:
                    shutil.rmtree(path, ignore_errors=True)
                    raise
                project.current_code = head.code
                project.current_commit = head.sha
                project.save(update_fields=["current_code", "current_commit"])
            return project
        except IntegrityError:
            continue  # another request took this slug a moment ago; pick the next one
    raise InvalidInput(f"Could not find a free slug for {name!r}; try another name.")


def project_delete(*, project: Project) -> None:
    """Delete the project and everything under it; its files go once the delete has committed."""
    slug = project.slug
    with transaction.atomic():
        project.delete()
        transaction.on_commit(lambda: repository.repository_delete(slug=slug))
