from rest_framework import serializers

from sessions.models import ConversationMessage, VibecodeSession
from vibegrapher.strict_fields import StrictCharField


class VibecodeSessionSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField(read_only=True)
    conversations_db_path = serializers.CharField(
        read_only=True, help_text="Where the conversation memory is, derived from MEDIA_PATH and the project's slug."
    )

    class Meta:
        model = VibecodeSession
        fields = [
            "id",
            "project_id",
            "openai_session_key",
            "conversations_db_path",
            "session_type",
            "node_id",
            "created_at",
            "updated_at",
        ]


class SessionCreateSerializer(serializers.Serializer):
    session_type = serializers.ChoiceField(choices=VibecodeSession.SessionType.choices, required=False)
    node_id = StrictCharField(
        max_length=200,
        required=False,
        allow_null=True,
        help_text=(
            "The id of one of the project's nodes (GET /projects/:id/nodes). Makes session_type default to "
            '"node"; with session_type "global" it is a 400, as is an unknown node.'
        ),
    )


class ConversationMessageSerializer(serializers.ModelSerializer):
    """Declared field by field, built once per class (serializers.ModelSerializer): it runs for every
    broadcast step."""

    id = serializers.UUIDField(read_only=True)
    session_id = serializers.UUIDField(read_only=True)
    role = serializers.ChoiceField(choices=ConversationMessage.Role.choices, read_only=True)
    agent = serializers.ChoiceField(choices=ConversationMessage.Agent.choices, read_only=True)
    content = serializers.CharField(read_only=True)
    iteration = serializers.IntegerField(read_only=True, allow_null=True)
    sequence = serializers.IntegerField(read_only=True)
    patch_preview = serializers.CharField(read_only=True, allow_null=True)
    diff_id = serializers.UUIDField(read_only=True, allow_null=True)
    token_usage = serializers.JSONField(read_only=True, allow_null=True)
    last_response_id = serializers.CharField(read_only=True, allow_null=True)
    trace_id = serializers.CharField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = ConversationMessage
        fields = [
            "id",
            "session_id",
            "role",
            "agent",
            "content",
            "iteration",
            "sequence",
            "patch_preview",
            "diff_id",
            "token_usage",
            "last_response_id",
            "trace_id",
            "created_at",
        ]


class ConversationMessageFullSerializer(ConversationMessageSerializer):
    openai_response = serializers.JSONField(read_only=True, allow_null=True)

    class Meta(ConversationMessageSerializer.Meta):
        fields = [*ConversationMessageSerializer.Meta.fields, "openai_response"]


class MessageCreateSerializer(serializers.Serializer):
    prompt = StrictCharField(max_length=20_000, trim_whitespace=True)
    message_id = StrictCharField(max_length=200, required=False, allow_null=True)


RESULT_STATUSES = ["processing", "pending_human_review", "answered", "max_iterations", "failed"]
ERROR_KINDS = ["provider", "limit", "internal", "interrupted"]


class TokenUsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField()
    reasoning_tokens = serializers.IntegerField()
    model_calls = serializers.IntegerField()


class VibecodeResultSerializer(serializers.Serializer):
    """The fields of `events.vibecode_result_data`, for the schema: every one is always present."""

    status = serializers.ChoiceField(choices=RESULT_STATUSES)
    session_id = serializers.UUIDField()
    message_id = serializers.CharField()
    trace_id = serializers.CharField()
    content = serializers.CharField(allow_null=True, help_text="The vibecoder's answer or its patch's description.")
    diff_id = serializers.UUIDField(allow_null=True, help_text="The proposed diff (`pending_human_review`).")
    commit_message = serializers.CharField(allow_null=True, help_text="The evaluator's (`pending_human_review`).")
    evaluator_reasoning = serializers.CharField(
        allow_null=True, help_text="Why the evaluator approved (`pending_human_review`)."
    )
    final_feedback = serializers.CharField(allow_null=True, help_text="The last rejection (`max_iterations`).")
    token_usage = TokenUsageSerializer(
        allow_null=True, help_text="The run's total over both agents and all rounds; null while `processing`."
    )
    error = serializers.CharField(allow_null=True, help_text="Null unless the run failed or hit the round limit.")
    error_kind = serializers.ChoiceField(
        choices=ERROR_KINDS,
        allow_null=True,
        help_text="Why a `failed` run failed: `provider` (the answer is 502), `limit`, `internal`, `interrupted`.",
    )
