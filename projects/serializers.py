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
