"""Shapes of the service's own answers: the health check, and the error body every endpoint shares."""

from rest_framework import serializers


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
