import uuid

from django.db import models
from django.db.models import Q

from projects import repository
from projects.models import Project


class VibecodeSession(models.Model):
    class SessionType(models.TextChoices):
        GLOBAL = "global"
        NODE = "node"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sessions")
    openai_session_key = models.CharField(max_length=300)
    session_type = models.CharField(max_length=10, choices=SessionType.choices, default=SessionType.GLOBAL)
    node_id = models.CharField(max_length=200, null=True, blank=True)
    # Last ConversationMessage.sequence handed out in this session.
    message_seq = models.IntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "openai_session_key"], name="unique_session_key_per_project")
        ]

    def __str__(self) -> str:
        return self.openai_session_key

    @property
    def conversations_db_path(self) -> str:
        # Derived, never stored: a changed MEDIA_PATH or a restored database cannot send memory elsewhere.
        return str(repository.conversations_db_path(slug=self.project.slug))

    @property
    def evaluator_session_key(self) -> str:
        return f"{self.openai_session_key}_evaluator"


class ConversationMessage(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        SYSTEM = "system"

    class Agent(models.TextChoices):
        USER = "user"
        VIBECODER = "vibecoder"
        EVALUATOR = "evaluator"
        SYSTEM = "system"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(VibecodeSession, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    agent = models.CharField(max_length=10, choices=Agent.choices)
    content = models.TextField(blank=True, default="")
    iteration = models.IntegerField(null=True, blank=True)
    sequence = models.IntegerField()
    patch_preview = models.TextField(null=True, blank=True)
    # A plain id, not a foreign key: diffs refer to sessions, and a message outlives nothing.
    diff_id = models.UUIDField(null=True, blank=True)
    token_usage = models.JSONField(null=True, blank=True)
    last_response_id = models.CharField(max_length=200, null=True, blank=True)
    trace_id = models.CharField(max_length=100, null=True, blank=True)
    openai_response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sequence"]
        constraints = [models.UniqueConstraint(fields=["session", "sequence"], name="unique_message_sequence")]

    def __str__(self) -> str:
        return f"{self.agent} #{self.sequence}"


class VibecodeRun(models.Model):
    """One execution of the vibecode loop: a durable record, so no run is lost with its process."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(VibecodeSession, on_delete=models.CASCADE, related_name="runs")
    user_message = models.ForeignKey(ConversationMessage, on_delete=models.CASCADE, related_name="+")
    client_message_id = models.CharField(max_length=200, null=True, blank=True)
    prompt = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    result = models.JSONField(null=True, blank=True)
    trace_id = models.CharField(max_length=100)
    base_commit = models.CharField(max_length=40, blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Refreshed by the process executing the run; a stale one means that process died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        # "Is a run active in this session?" is asked before every run, and "which runs are active?" by
        # the reaper every few seconds; the partial unique index below answers neither (the statuses are
        # query parameters), so without these both read every run there is.
        indexes = [
            models.Index(fields=["session", "status"], name="vibecoderun_session_status"),
            models.Index(fields=["status", "created_at"], name="vibecoderun_status_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "client_message_id"],
                condition=Q(client_message_id__isnull=False),
                name="unique_client_message_id_per_session",
            ),
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_run_per_session",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"

    @property
    def message_id(self) -> str:
        """The id a client knows this run by: its own message_id when it sent one."""
        return self.client_message_id or str(self.user_message_id)


class ProjectEvent(models.Model):
    """Every event broadcast to a project, kept so a reconnecting client can replay what it missed."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="events")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=50)
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["project", "seq"], name="unique_event_seq_per_project")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"
