"""vibegrapher.output_serializer: response serializers give the same JSON as DRF's ModelSerializer."""

import pytest
from django.utils import timezone
from rest_framework import serializers

from diffs.models import Diff
from diffs.serializers import DiffSerializer
from projects.serializers import ProjectSerializer
from projects.services import project_create
from sessions.serializers import VibecodeSessionSerializer
from sessions.services import session_get_or_create
from testcases import models as testcase_models
from testcases import serializers as testcase_serializers
from testcases import services as testcase_services
from vibegrapher.output_serializer import OutputModelSerializer

pytestmark = pytest.mark.django_db


def model_serializer_output(serializer_class: type, instance) -> dict:
    """What the same class gives through DRF's own ModelSerializer.to_representation."""
    return serializers.ModelSerializer.to_representation(serializer_class(), instance)


def test_every_output_serializer_matches_drf():
    project = project_create(name="Equal Output")
    session, _ = session_get_or_create(project=project, session_type="node", node_id="assistant_agent")
    test_case = testcase_services.test_case_create(
        project=project, name="named", test_code="import workflow\n", quick_test=True
    )
    sparse_diff = Diff.objects.create(
        session=session, project=project, base_commit=project.current_commit, diff_content="", new_code=""
    )
    full_diff = Diff.objects.create(
        session=session,
        project=project,
        base_commit=project.current_commit,
        diff_content="diff --git a/workflow.py b/workflow.py\n",
        new_code="x = 1\n",
        status=Diff.Status.COMMITTED,
        test_results={"passed": 1, "runs": [{"status": "passed"}]},
        tests_run_at=timezone.now(),
        human_feedback="fine",
        committed_sha="a" * 40,
    )
    run = testcase_models.TestRun.objects.create(
        test_case=test_case, test_name="named", diff=full_diff, status="passed", output="ok"
    )
    run_without_diff = testcase_models.TestRun.objects.create(
        test_case=test_case, test_name="named", status="error", error="boom"
    )
    cases = [
        (ProjectSerializer, project),
        (VibecodeSessionSerializer, session),
        (DiffSerializer, sparse_diff),
        (DiffSerializer, full_diff),
        (testcase_serializers.TestCaseSerializer, test_case),
        (testcase_serializers.TestRunSerializer, run),
        (testcase_serializers.TestRunSerializer, run_without_diff),
    ]
    for serializer_class, instance in cases:
        assert issubclass(serializer_class, OutputModelSerializer)
        for fresh in (instance, type(instance)._default_manager.get(pk=instance.pk)):
            ours = serializer_class(fresh).data
            expected = model_serializer_output(serializer_class, fresh)
            print(serializer_class.__name__, "fields:", list(ours))
            assert list(ours) == list(expected) == list(serializer_class.Meta.fields)
            assert dict(ours) == expected
    many = ProjectSerializer([project, project], many=True).data
    assert [dict(item) for item in many] == [model_serializer_output(ProjectSerializer, project)] * 2


def test_write_only_fields_stay_out_of_the_output():
    class WithSecret(OutputModelSerializer):
        secret = serializers.CharField(write_only=True)

        class Meta:
            model = Diff
            fields = ["id", "status", "secret"]

    project = project_create(name="Secret")
    session, _ = session_get_or_create(project=project, session_type=None, node_id=None)
    diff = Diff.objects.create(session=session, project=project, base_commit="", diff_content="", new_code="")
    assert WithSecret(diff).data == {"id": str(diff.id), "status": "evaluator_approved"}
