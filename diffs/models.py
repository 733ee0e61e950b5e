import uuid

from django.db import models

from projects.models import Project
from sessions.models import VibecodeSession


class Diff(models.Model):
    class Status(models.TextChoices):
        EVALUATOR_APPROVED = "evaluator_approved"
        HUMAN_APPROVED = "human_approved"
        HUMAN_REJECTED = "human_rejected"
        COMMITTED = "committed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A deleted session takes its conversation with it, not the changes it produced: committed diffs are
    # the record of what was committed and why, and a pending one can still be reviewed.
    session = models.ForeignKey(VibecodeSession, on_delete=models.SET_NULL, null=True, blank=True, related_name="diffs")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="diffs")
    base_commit = models.CharField(max_length=40)
    target_branch = models.CharField(max_length=100, default="main")
    diff_content = models.TextField()
    # The whole file as the diff leaves it; what a commit writes.
    new_code = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.EVALUATOR_APPROVED, db_index=True)
    test_results = models.JSONField(null=True, blank=True)
    tests_run_at = models.DateTimeField(null=True, blank=True)
    vibecoder_prompt = models.TextField(blank=True, default="")
    evaluator_reasoning = models.TextField(blank=True, default="")
    commit_message = models.TextField(blank=True, default="")
    human_feedback = models.TextField(null=True, blank=True)
    committed_sha = models.CharField(max_length=40, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.commit_message[:60] or self.id} ({self.status})"
