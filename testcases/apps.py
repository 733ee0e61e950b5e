from django.apps import AppConfig


class TestcasesConfig(AppConfig):
    name = "testcases"
    default_auto_field = "django.db.models.BigAutoField"
