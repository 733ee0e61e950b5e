from rest_framework import serializers

from projects.models import Project
from projects.selectors import PROJECT_FIELDS
from vibegrapher.strict_fields import StrictCharField, StrictRegexField


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = list(PROJECT_FIELDS)


class ProjectCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, trim_whitespace=True)
    code = StrictCharField(
        required=False,
        trim_whitespace=False,
        allow_blank=True,
        help_text='An existing workflow file to import; its text becomes the first commit ("Import workflow").',
    )


class ProjectCreatedSerializer(ProjectSerializer):
    warning = serializers.CharField(required=False, help_text="Present when the imported code defines no Agent(...).")

    class Meta(ProjectSerializer.Meta):
        fields = [*PROJECT_FIELDS, "warning"]


class NodeSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    line_start = serializers.IntegerField()
    line_end = serializers.IntegerField()
    tools = serializers.ListField(child=serializers.CharField())
    handoffs = serializers.ListField(child=serializers.CharField())
    entry_point = serializers.BooleanField(help_text="True when a `Runner.run(...)` in the file starts this agent.")


class GraphNodeSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    kind = serializers.ChoiceField(choices=["agent", "tool"])
    line_start = serializers.IntegerField()
    line_end = serializers.IntegerField()


class GraphEdgeSerializer(serializers.Serializer):
    source = serializers.CharField()  # type: ignore[assignment]  # DRF moves declared fields off the class
    target = serializers.CharField()
    kind = serializers.ChoiceField(choices=["handoff", "tool", "agent_tool"])


class GraphSerializer(serializers.Serializer):
    nodes = GraphNodeSerializer(many=True)
    edges = GraphEdgeSerializer(many=True)


class CommitSerializer(serializers.Serializer):
    sha = serializers.CharField()
    message = serializers.CharField()
    author = serializers.CharField()
    author_email = serializers.CharField()
    committed_at = serializers.DateTimeField()
    diff_id = serializers.CharField(allow_null=True)
    session_id = serializers.CharField(allow_null=True)


class RevertSerializer(serializers.Serializer):
    commit_sha = StrictRegexField(r"^[0-9a-fA-F]{4,40}$", max_length=40)


class SandboxHealthSerializer(serializers.Serializer):
    mode = serializers.CharField(help_text='"bubblewrap", "weak" (SANDBOX_ALLOW_WEAK=1) or "unavailable"')
    isolation = serializers.ListField(
        child=serializers.CharField(),
        help_text="What is in force: read-only-system, private-tmp, no-network, pid-namespace, scrubbed-env, rlimits",
    )
    available = serializers.BooleanField(help_text="false: test runs answer 503")
    reason = serializers.CharField(allow_null=True, help_text="Why bubblewrap is not used; null when it is")


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    database = serializers.CharField()
    channel_layer = serializers.CharField(help_text='"in-memory", "ok", or "unreachable: <why>"')
    version = serializers.CharField()
    vibecoding = serializers.CharField()
    sandbox_network_isolation = serializers.BooleanField()
    sandbox = SandboxHealthSerializer()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    # DRF's metaclass moves declared fields off the class, so `Serializer.errors` is not overridden.
    errors = serializers.DictField(required=False)  # type: ignore[assignment]
