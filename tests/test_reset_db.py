"""`manage.py reset_db` and `seed_if_empty`, run for real against the test database and media folder."""

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from projects.models import Project
from projects.tests.git_cli import git
from testcases.models import TestCase as StoredTest

pytestmark = pytest.mark.django_db(transaction=True)


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)


async def test_reset_db_seeds_one_project_two_tests_and_wipes_media(api, media_root, tmp_path):
    old = (await api.post("/projects", json={"name": "Old Work"})).json()
    stray = media_root / "stray.txt"
    stray.write_text("left over")
    (media_root / "projects" / "orphan").mkdir(parents=True)

    await sync_to_async(call_command)("reset_db")

    assert not stray.exists()
    assert not (media_root / "projects" / "orphan").exists()
    assert not Path(old["repository_path"]).exists()
    projects = (await api.get("/projects")).json()
    print("projects after reset_db:", [(p["name"], p["slug"]) for p in projects])
    assert [p["name"] for p in projects] == ["Agent Triage System"]
    project = projects[0]
    assert project["slug"] == "agent-triage-system"
    assert (await api.get(f"/projects/{old['id']}")).status_code == 404

    repo = Path(project["repository_path"])
    assert repo == (media_root / "projects" / "agent-triage-system").resolve()
    assert git(repo, "log", "--format=%s") == "Initial agent code"
    assert git(repo, "rev-parse", "HEAD") == project["current_commit"]
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(repo, "show", "HEAD:workflow.py", strip=False) == project["current_code"]
    assert git(repo, "status", "--porcelain") == ""
    assert sorted(p.name for p in (media_root / "projects").iterdir()) == ["agent-triage-system"]

    tests = (await api.get(f"/projects/{project['id']}/tests")).json()
    quick = (await api.get(f"/projects/{project['id']}/tests/quick")).json()
    print("seeded tests:", [(t["name"], t["quick_test"]) for t in tests])
    assert len(tests) == 2
    assert [t["quick_test"] for t in tests].count(True) == 1
    assert [t["id"] for t in quick] == [t["id"] for t in tests if t["quick_test"]]

    nodes = (await api.get(f"/projects/{project['id']}/nodes")).json()
    print("seeded nodes:", [(n["id"], n["handoffs"]) for n in nodes])
    triage = [n for n in nodes if n["id"] == "triage_agent"]
    assert len(triage) == 1 and len(triage[0]["handoffs"]) >= 2
    assert set(triage[0]["handoffs"]) <= {n["id"] for n in nodes}


async def test_seeded_workflow_imports_and_passes_its_own_tests(api, tmp_path):
    await sync_to_async(call_command)("reset_db")
    project = (await api.get("/projects")).json()[0]
    tests = (await api.get(f"/projects/{project['id']}/tests")).json()
    workdir = tmp_path / "copy"
    workdir.mkdir()
    shutil.copy(Path(project["repository_path"]) / "workflow.py", workdir / "workflow.py")
    for n, test in enumerate(tests):
        (workdir / f"seeded_test_{n}.py").write_text(test["test_code"])

    # One interpreter (importing the Agents SDK is slow): import the workflow, then run each seeded test file
    # and every test_ function it defines.
    script = (
        "import runpy, workflow\n"
        "print('agents:', sorted(n for n in vars(workflow) if n.endswith('_agent')))\n"
        f"for n in range({len(tests)}):\n"
        "    module = runpy.run_path(f'seeded_test_{n}.py')\n"
        "    for name, f in module.items():\n"
        "        if name.startswith('test_') and callable(f):\n"
        "            f()\n"
        "    print('seeded test', n, 'passed')\n"
    )
    result = run_python(script, workdir)
    print(
        "python -c <import workflow; run seeded tests> ->",
        result.returncode,
        result.stdout.strip(),
        result.stderr[-800:],
    )
    assert result.returncode == 0
    assert result.stdout.count("passed") == len(tests) == 2


async def test_reset_db_twice_leaves_one_project(api):
    await sync_to_async(call_command)("reset_db")
    first = (await api.get("/projects")).json()
    await sync_to_async(call_command)("reset_db")
    second = (await api.get("/projects")).json()
    assert len(second) == 1
    assert second[0]["id"] != first[0]["id"]
    assert second[0]["slug"] == "agent-triage-system"


async def test_seed_if_empty_seeds_an_empty_database_only(api):
    await sync_to_async(call_command)("seed_if_empty")
    assert [p["name"] for p in (await api.get("/projects")).json()] == ["Agent Triage System"]
    await api.post("/projects", json={"name": "Mine"})
    await sync_to_async(call_command)("seed_if_empty")
    names = sorted(p["name"] for p in (await api.get("/projects")).json())
    assert names == ["Agent Triage System", "Mine"]
    assert await sync_to_async(StoredTest.objects.count)() == 2
    assert await sync_to_async(Project.objects.count)() == 2


async def test_first_start_seeding_does_not_say_reset(api):
    out = io.StringIO()
    await sync_to_async(call_command)("seed_if_empty", stdout=out)
    print(out.getvalue())
    assert "reset" not in out.getvalue().lower() and "Seeded project 'Agent Triage System'" in out.getvalue()
    out = io.StringIO()
    await sync_to_async(call_command)("reset_db", stdout=out)
    print(out.getvalue())
    assert out.getvalue().startswith("Database reset: the earlier projects are gone.")
