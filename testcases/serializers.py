from rest_framework import serializers

from testcases.models import TestCase, TestRun
from vibegrapher.strict_fields import StrictBooleanField, StrictCharField, StrictRegexField, StrictUUIDField

INPUT_MAX = 20_000


class ScenarioSerializer(serializers.Serializer):
    """A conversation scenario: the playground answers `input` (from the entry agent) and the test passes
    when the run completes, ends at the agent named `expect_last_agent` and its final output contains
    `expect_output_contains` (each checked only when given)."""

    input = StrictCharField(max_length=INPUT_MAX, trim_whitespace=False)
    expect_last_agent = StrictCharField(max_length=200, required=False)
    expect_output_contains = StrictCharField(max_length=INPUT_MAX, required=False, trim_whitespace=False)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(f"Unknown scenario fields: {', '.join(unknown)}.")
        return super().to_internal_value(data)


class TestCaseSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField(read_only=True)
    scenario = ScenarioSerializer(read_only=True, allow_null=True)

    class Meta:
        model = TestCase
        fields = ["id", "project_id", "name", "test_code", "scenario", "quick_test", "created_at", "updated_at"]


_ONE_OF = "Give exactly one of test_code (Python) and scenario ({input, expect_last_agent?, expect_output_contains?})."


class TestCaseCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    test_code = StrictCharField(max_length=100_000, trim_whitespace=False, required=False)
    scenario = ScenarioSerializer(required=False)
    quick_test = StrictBooleanField(required=False, default=False)

    def validate(self, attrs):
        if ("test_code" in attrs) == ("scenario" in attrs):
            raise serializers.ValidationError({"test_code": [_ONE_OF], "scenario": [_ONE_OF]})
        return attrs


class TestCaseUpdateSerializer(serializers.Serializer):
    """A test may change kind: the one given replaces the other."""

    name = StrictCharField(max_length=200, required=False)
    test_code = StrictCharField(max_length=100_000, trim_whitespace=False, required=False)
    scenario = ScenarioSerializer(required=False)
    quick_test = StrictBooleanField(required=False)

    def validate(self, attrs):
        if "test_code" in attrs and "scenario" in attrs:
            raise serializers.ValidationError({"test_code": [_ONE_OF], "scenario": [_ONE_OF]})
        return attrs


class PlaygroundRequestSerializer(serializers.Serializer):
    input = StrictCharField(max_length=INPUT_MAX, trim_whitespace=False)
    diff_id = StrictUUIDField(required=False)
    agent = StrictCharField(max_length=200, required=False)
    session = StrictRegexField(
        r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        required=False,
        error_messages={
            "invalid": "Letters, digits, '_', '.' and '-' only, at most 100, starting with a letter or digit."
        },
    )

    def validate_input(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("The input is empty: say something to the workflow.")
        return value


class PlaygroundStepSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    agent = serializers.CharField(help_text="The name of the agent that took the step.")
    kind = serializers.ChoiceField(choices=["message", "tool_call", "handoff"])
    content = serializers.CharField(required=False, help_text="message: the text.")
    tool = serializers.CharField(required=False, allow_null=True, help_text="tool_call: the tool's name.")
    arguments = serializers.CharField(required=False, allow_null=True, help_text="tool_call: its JSON arguments.")
    output = serializers.CharField(required=False, help_text="tool_call: what the tool returned.")
    to = serializers.CharField(required=False, help_text="handoff: the agent handed to.")


class PlaygroundResultSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["completed", "timeout", "error"])
    final_output = serializers.CharField(allow_null=True)
    last_agent = serializers.CharField(allow_null=True, help_text="The name of the agent that gave the final output.")
    steps = PlaygroundStepSerializer(many=True)
    token_usage = serializers.DictField(child=serializers.IntegerField())
    error = serializers.CharField(allow_null=True)
    output = serializers.CharField(help_text="What the workflow printed (its end, capped).")
    diff_id = serializers.UUIDField(allow_null=True)
    agent = serializers.CharField(help_text="The node id the run started from.")
    session = serializers.CharField(allow_null=True)


class TestRunSerializer(serializers.ModelSerializer):
    test_case_id = serializers.UUIDField(read_only=True)
    diff_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = TestRun
        fields = [
            "id",
            "test_case_id",
            "test_name",
            "diff_id",
            "status",
            "output",
            "error",
            "execution_time_ms",
            "created_at",
        ]


class DiffTestRequestSerializer(serializers.Serializer):
    test_ids = serializers.ListField(
        child=StrictUUIDField(),
        required=False,
        allow_null=True,
        min_length=1,
        max_length=500,
        error_messages={"min_length": "Give at least one test id, or leave it out."},
    )


class DiffTestResultSerializer(serializers.Serializer):
    diff_id = serializers.UUIDField()
    total = serializers.IntegerField()
    passed = serializers.IntegerField()
    failed = serializers.IntegerField()
    cached = serializers.BooleanField()
    results = TestRunSerializer(many=True)
