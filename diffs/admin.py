from django.contrib import admin

from diffs.models import Diff


@admin.register(Diff)
class DiffAdmin(admin.ModelAdmin):
    list_display = ["commit_message", "project", "status", "created_at"]
    list_filter = ["status", "project"]
    ordering = ["-created_at"]
