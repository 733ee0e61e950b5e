"""projects.repository: slug-to-path mapping refuses anything outside the media root; new repositories."""

import os

import pygit2
import pytest

from projects import repository
from projects.tests.git_cli import git


@pytest.mark.parametrize(
    "slug",
    [
        "../x",
        "..",
        ".",
        "",
        "a/b",
        "/etc",
        "x/../../y",
        "-leading-dash",
        "UPPER",
        "with space",
        "dot.dot",
        "a" * 121,
        "é",
    ],
)
def test_repository_path_refuses_unsafe_slugs(slug):
    with pytest.raises(repository.RepositoryError):
        repository.repository_path(slug=slug)
    with pytest.raises(repository.RepositoryError):
        repository.conversations_db_path(slug=slug)


def test_repository_path_is_inside_the_media_root(media_root):
    path = repository.repository_path(slug="my-project-2")
    assert path == (media_root / "projects" / "my-project-2").resolve()
    db = repository.conversations_db_path(slug="my-project-2")
    assert db == (media_root / "projects" / "my-project-2_conversations.db").resolve()


def test_symlink_leading_out_of_the_media_root_is_refused(media_root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (media_root / "projects").mkdir()
    os.symlink(outside, media_root / "projects" / "escape")
    with pytest.raises(repository.RepositoryError):
        repository.repository_path(slug="escape")


def test_repository_create_refuses_an_unsafe_slug_and_writes_nothing(media_root, tmp_path):
    with pytest.raises(repository.RepositoryError):
        repository.repository_create(slug="../evil", code="x = 1\n", message="m")
    assert not (media_root / "evil").exists()
    assert not (media_root.parent / "evil").exists()


def test_repository_delete_refuses_an_unsafe_slug(media_root, tmp_path):
    victim = media_root / "keep"
    victim.mkdir()
    with pytest.raises(repository.RepositoryError):
        repository.repository_delete(slug="../keep")
    assert victim.is_dir()


CODES_AND_MESSAGES = [
    ("x = 1\n", "Initial agent code"),
    ('agent = "café ☕"\n' * 40, "Créé\n\nWith a body of two lines.\nVibegrapher-Diff: 123"),
]


@pytest.mark.parametrize("code,message", CODES_AND_MESSAGES, ids=["ascii", "unicode-multiline"])
def test_a_new_repository_is_what_libgit2_would_have_written(media_root, tmp_path, code, message):
    """The first commit is written without libgit2; written with it instead (same author, same
    second), every object and so the commit id come out the same, and git finds nothing wrong."""
    head = repository.repository_create(slug="first", code=code, message=message)
    path = repository.repository_path(slug="first")
    ours = pygit2.Repository(str(path))
    commit = ours[ours.head.target]
    theirs = pygit2.init_repository(str(tmp_path / "libgit2"), initial_head="main")
    builder = theirs.TreeBuilder()
    builder.insert("workflow.py", theirs.create_blob(code.encode()), pygit2.GIT_FILEMODE_BLOB)
    sig = pygit2.Signature(commit.author.name, commit.author.email, commit.author.time, commit.author.offset)
    expected = theirs.create_commit("refs/heads/main", sig, sig, message, builder.write(), [])
    print(f"commit written here {head.sha}, by libgit2 {expected}")
    assert head.sha == str(expected) == str(commit.id)
    assert repository.repository_head(path=path) == head
    assert git(path, "fsck", "--strict") == ""
    assert git(path, "status", "--porcelain") == ""
    assert git(path, "log", "-1", "--format=%B", strip=False) == message + "\n"

    # Later commits (pygit2's) go on top as usual.
    second = repository.repository_commit(path=path, code=code + "y = 2\n", message="Second", parent_sha=head.sha)
    assert git(path, "rev-list", "--count", "main") == "2"
    assert git(path, "status", "--porcelain") == ""
    assert (path / "workflow.py").read_text() == code + "y = 2\n"
    assert repository.repository_head(path=path) == second
    assert git(path, "reflog", "main", "--format=%gs") == "commit: Second"  # logged from the second commit on


def test_a_missing_repository_folder_is_a_repository_error_with_a_sentence(tmp_path, settings):
    settings.MEDIA_PATH = str(tmp_path)
    path = repository.repository_path(slug="gone")
    with pytest.raises(repository.RepositoryUnreadable, match="cannot be opened"):
        repository.repository_file_at(path=path, sha="0" * 40)
    with pytest.raises(repository.RepositoryUnreadable):
        repository.repository_log(path=path)
