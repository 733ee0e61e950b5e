from django.apps import AppConfig


class VibecodeSessionsConfig(AppConfig):
    # `sessions` is django.contrib.sessions' label; this app needs its own.
    name = "sessions"
    label = "vg_sessions"
    verbose_name = "Vibecode sessions"
    default_auto_field = "django.db.models.BigAutoField"
