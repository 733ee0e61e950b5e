"""vibegrapher/checks.py: the deploy check still sees a missing security middleware."""

from django.core.checks import run_checks


def test_the_deploy_check_is_clean_with_the_security_middleware():
    ids = [message.id for message in run_checks(include_deployment_checks=True, tags=["security"])]
    print("security check ids:", ids)
    assert not [check_id for check_id in ids if (check_id or "").startswith("vibegrapher.")]


def test_the_deploy_check_reports_a_removed_security_middleware(settings):
    settings.MIDDLEWARE = [path for path in settings.MIDDLEWARE if not path.endswith(".XFrameOptionsMiddleware")]
    ids = [message.id for message in run_checks(include_deployment_checks=True, tags=["security"])]
    print("security check ids without XFrameOptionsMiddleware:", ids)
    assert "vibegrapher.W002" in ids
    assert "vibegrapher.W001" not in ids and "vibegrapher.W003" not in ids
