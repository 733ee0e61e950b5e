from django.contrib import admin

from projects.models import Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "current_commit", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = [
        "id",
        "slug",
        "repository_path",
        "current_code",
        "current_commit",
        "current_branch",
        "created_at",
        "updated_at",
    ]
