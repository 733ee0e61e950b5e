from django.contrib import admin

from projects.models import Project
from projects.selectors import PROJECT_FIELDS


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "current_commit", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = [field for field in PROJECT_FIELDS if field != "name"]  # only the name is edited here
