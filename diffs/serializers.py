from rest_framework import serializers

from diffs.models import Diff
from vibegrapher.strict_fields import StrictBooleanField, StrictCharField


class DiffSerializer(serializers.ModelSerializer):
    session_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="null once the session is deleted")
    project_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Diff
        fields = [
            "id",
            "session_id",
            "project_id",
            "base_commit",
            "target_branch",
            "diff_content",
            "status",
            "test_results",
            "tests_run_at",
            "vibecoder_prompt",
            "evaluator_reasoning",
            "commit_message",
            "human_feedback",
            "committed_sha",
            "created_at",
            "updated_at",
        ]


class DiffStatusFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Diff.Status.choices, required=False, allow_blank=True)


class NodeChangeSerializer(serializers.Serializer):
    node = serializers.CharField(help_text="The agent's variable, as `id` in /projects/:id/nodes.")
    kind = serializers.ChoiceField(choices=["added", "removed", "changed"])
    fields = serializers.ListField(child=serializers.CharField(), help_text="The Agent(...) arguments that differ.")  # type: ignore[assignment]  # DRF moves declared fields off the class


class DiffPreviewSerializer(serializers.Serializer):
    diff_id = serializers.UUIDField()
    original_code = serializers.CharField()
    preview_code = serializers.CharField()
    diff_content = serializers.CharField()
    commit_message = serializers.CharField()
    changes = NodeChangeSerializer(many=True)


class ReviewSerializer(serializers.Serializer):
    approved = StrictBooleanField()
    feedback = StrictCharField(max_length=20_000, required=False, allow_blank=True, allow_null=True)


class CommitRequestSerializer(serializers.Serializer):
    commit_message = StrictCharField(max_length=5_000, required=False, allow_null=True, allow_blank=False)


class RefineMessageSerializer(serializers.Serializer):
    prompt = StrictCharField(max_length=5_000, required=False, allow_null=True, allow_blank=True)
    current_message = StrictCharField(max_length=5_000, required=False, allow_null=True, allow_blank=True)


class RefinedMessageSerializer(serializers.Serializer):
    diff_id = serializers.UUIDField()
    original_message = serializers.CharField()
    refined_message = serializers.CharField()
