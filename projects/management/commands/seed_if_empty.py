from django.core.management import call_command
from django.core.management.base import BaseCommand

from projects.models import Project


class Command(BaseCommand):
    help = "Run reset_db when the database has no projects (first start of a fresh setup)."

    def handle(self, *args, **options):
        if Project.objects.exists():
            self.stdout.write("Database already has projects; not seeding.")
            return
        self.stdout.write("No projects yet (fresh database): creating the schema and the sample project.")
        call_command("reset_db", stdout=self.stdout)
