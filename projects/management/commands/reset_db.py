"""Drop and recreate the schema, wipe media/, and seed the "Agent Triage System" project."""

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from projects import repository
from projects.models import Project
from projects.services import project_create
from projects.starter_code import TRIAGE_WORKFLOW
from testcases.services import test_case_create

SEED_PROJECT_NAME = "Agent Triage System"

QUICK_TEST = """import workflow

assert workflow.triage_agent.name == "Triage Agent"
handoff_names = {agent.name for agent in workflow.triage_agent.handoffs}
assert {"Billing Agent", "Technical Support Agent", "General Agent"} <= handoff_names, handoff_names
"""

FULL_TEST = """from agents import Agent

import workflow


def test_every_agent_has_instructions():
    agents = [value for value in vars(workflow).values() if isinstance(value, Agent)]
    assert len(agents) >= 4, f"expected at least 4 agents, found {len(agents)}"
    for agent in agents:
        assert agent.instructions, f"{agent.name} has no instructions"


def test_specialists_describe_themselves_for_handoffs():
    for agent in workflow.triage_agent.handoffs:
        assert agent.handoff_description, f"{agent.name} has no handoff_description"
"""


class Command(BaseCommand):
    help = "Drop and recreate the database schema, wipe media/, and seed the sample project and tests."

    def add_arguments(self, parser):
        parser.add_argument("--no-input", action="store_true", help="Accepted for scripts; reset_db never prompts.")

    def handle(self, *args, **options):
        wiped = Project._meta.db_table in connection.introspection.table_names() and Project.objects.exists()
        self._drop_all_tables()
        repository.media_wipe()
        call_command("migrate", interactive=False, verbosity=0)
        project = project_create(name=SEED_PROJECT_NAME, code=TRIAGE_WORKFLOW)
        test_case_create(
            project=project, name="Triage hands off to every specialist", test_code=QUICK_TEST, quick_test=True
        )
        test_case_create(project=project, name="Agents are fully described", test_code=FULL_TEST, quick_test=False)
        # "reset" only when there was something to lose: a first start's seeding must not read as data loss.
        done = "Database reset: the earlier projects are gone. " if wiped else ""
        self.stdout.write(f"{done}Seeded project {project.name!r} ({project.id}) at commit {project.current_commit}.")

    def _drop_all_tables(self) -> None:
        tables = connection.introspection.table_names()
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                for table in tables:
                    cursor.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
            else:
                cursor.execute("PRAGMA foreign_keys = OFF")
                for table in tables:
                    cursor.execute(f'DROP TABLE IF EXISTS "{table}"')
                cursor.execute("PRAGMA foreign_keys = ON")
