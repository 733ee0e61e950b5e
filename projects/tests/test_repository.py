"""projects.repository: slug-to-path mapping refuses anything outside the media root."""

import os

import pytest

from projects import repository


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
