import uuid

from django.db import models

from diffs.models import Diff
from projects.models import Project


class TestCase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="test_cases")
    name = models.CharField(max_length=200)
    # Exactly one of the two: Python that imports the workflow, or a conversation the playground runs,
    # `{input, expect_last_agent?, expect_output_contains?}`.
    test_code = models.TextField(null=True, blank=True)
    scenario = models.JSONField(null=True, blank=True)
    quick_test = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(test_code__isnull=False, scenario__isnull=True)
                | models.Q(test_code__isnull=True, scenario__isnull=False),
                name="testcase_code_or_scenario",
            )
        ]

    def __str__(self) -> str:
        return self.name


class TestRun(models.Model):
    class Status(models.TextChoices):
        PASSED = "passed"
        FAILED = "failed"
        ERROR = "error"
        TIMEOUT = "timeout"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    test_case = models.ForeignKey(TestCase, on_delete=models.CASCADE, related_name="runs")
    test_name = models.CharField(max_length=200)
    diff = models.ForeignKey(Diff, on_delete=models.CASCADE, null=True, blank=True, related_name="test_runs")
    # What was tested: a hash of workflow and test code, so unchanged results are not rerun.
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices)
    output = models.TextField(blank=True, default="")
    error = models.TextField(null=True, blank=True)
    execution_time_ms = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.test_name}: {self.status}"
