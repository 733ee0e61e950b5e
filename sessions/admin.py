from django.contrib import admin

from sessions.models import ConversationMessage, ProjectEvent, VibecodeRun, VibecodeSession


@admin.register(VibecodeSession)
class VibecodeSessionAdmin(admin.ModelAdmin):
    list_display = ["openai_session_key", "project", "session_type", "node_id", "created_at"]
    list_filter = ["session_type", "project"]


@admin.register(ConversationMessage)
class ConversationMessageAdmin(admin.ModelAdmin):
    list_display = ["session", "sequence", "role", "agent", "iteration", "created_at"]
    list_filter = ["role", "agent"]
    search_fields = ["content", "trace_id", "last_response_id"]


@admin.register(VibecodeRun)
class VibecodeRunAdmin(admin.ModelAdmin):
    list_display = ["id", "session", "status", "worker", "created_at", "finished_at"]
    list_filter = ["status"]


@admin.register(ProjectEvent)
class ProjectEventAdmin(admin.ModelAdmin):
    list_display = ["project", "seq", "type", "created_at"]
    list_filter = ["type"]
