from django.apps import AppConfig


class DiffsConfig(AppConfig):
    name = "diffs"
    default_auto_field = "django.db.models.BigAutoField"
