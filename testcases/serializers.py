from rest_framework import serializers

from testcases.models import TestCase, TestRun
from vibegrapher.strict_fields import StrictBooleanField, StrictCharField, StrictUUIDField


class TestCaseSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = TestCase
        fields = ["id", "project_id", "name", "test_code", "quick_test", "created_at", "updated_at"]


class TestCaseCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    test_code = StrictCharField(max_length=100_000, trim_whitespace=False)
    quick_test = StrictBooleanField(required=False, default=False)


class TestCaseUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False)
    test_code = StrictCharField(max_length=100_000, trim_whitespace=False, required=False)
    quick_test = StrictBooleanField(required=False)


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
