import uuid

from django.db import models


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=120, unique=True)
    repository_path = models.CharField(max_length=500)
    # Mirrors of main's head, updated by the same service call that moves the branch.
    current_code = models.TextField(blank=True, default="")
    current_commit = models.CharField(max_length=40, blank=True, default="")
    current_branch = models.CharField(max_length=100, default="main")
    # Last per-project event sequence number handed out (see sessions.events).
    event_seq = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name
