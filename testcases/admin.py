from django.contrib import admin

from testcases.models import TestCase, TestRun


@admin.register(TestCase)
class TestCaseAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "quick_test", "created_at"]
    list_filter = ["quick_test", "project"]


@admin.register(TestRun)
class TestRunAdmin(admin.ModelAdmin):
    list_display = ["test_name", "status", "diff", "execution_time_ms", "created_at"]
    list_filter = ["status"]
