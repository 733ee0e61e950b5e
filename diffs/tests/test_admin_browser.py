"""A staff member reviews a vibecoded diff in a real headless Chromium: log in, approve, commit.

Needs the Debian packages `chromium` and `chromium-driver` and the PyPI package `selenium`; skipped
with the reason otherwise. The screenshot goes to artifacts/admin_review.png (git-ignored).
"""

import shutil
import tempfile
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from diffs.models import Diff
from diffs.tests.builders import PIRATE_PATCH, project_with_session, repo_path
from model_double.script import evaluation, patch
from projects.tests.git_cli import git
from sessions.runs import run_start
from sessions.vibecoder.executor import run_execute

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(settings.BASE_DIR) / "artifacts"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install -y chromium chromium-driver)",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs the selenium package (pip install selenium)")
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,1400",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def vibecoded_diff(provider) -> Diff:
    """A diff made the way users make them: a vibecode run through the model double."""
    _project, session = project_with_session(name="Browser Review")
    provider.script(
        patch(PIRATE_PATCH, "Make the assistant a pirate", match="vibecoder"),
        evaluation(
            True, "Changes only the instructions, as asked.", "Make the assistant talk like a pirate", match="evaluator"
        ),
    )
    run, _ = run_start(session=session, prompt="Make it talk like a pirate", client_message_id=None)
    async_to_sync(run_execute)(str(run.id))
    return Diff.objects.select_related("project").get(session=session)


def click(driver, element_id: str) -> None:
    button = WebDriverWait(driver, 10).until(expected_conditions.element_to_be_clickable((By.ID, element_id)))
    button.click()


def test_staff_approves_and_commits_in_the_browser(browser, live_server, admin_user, provider):
    diff = vibecoded_diff(provider)
    repo = repo_path(diff.project)
    head_before = git(repo, "rev-parse", "main")
    page = f"{live_server.url}/admin/diffs/diff/{diff.pk}/change/"

    browser.get(f"{live_server.url}/admin/login/?next=/admin/diffs/diff/{diff.pk}/change/")
    browser.find_element(By.NAME, "username").send_keys(admin_user.username)
    browser.find_element(By.NAME, "password").send_keys("password")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 10).until(expected_conditions.url_to_be(page))

    added = browser.find_elements(By.CSS_SELECTOR, "#diff-view .diff-added")
    removed = browser.find_elements(By.CSS_SELECTOR, "#diff-view .diff-removed")
    print("added lines:", [line.text for line in added], "removed lines:", [line.text for line in removed])
    assert [line.text for line in added] == [
        '+    instructions="You are a pirate assistant. Answer clearly and briefly.",'
    ]
    assert [line.text for line in removed] == [
        '-    instructions="You are a helpful assistant. Answer clearly and briefly.",'
    ]
    assert added[0].value_of_css_property("background-color") == "rgba(230, 255, 236, 1)"
    assert "Changes only the instructions" in browser.find_element(By.ID, "diff-evaluator-reasoning").text
    assert browser.find_element(By.ID, "diff-status").text == "evaluator_approved"

    click(browser, "diff-approve")
    WebDriverWait(browser, 10).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "diff-status"), "human_approved")
    )
    click(browser, "diff-commit")
    WebDriverWait(browser, 10).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "diff-status"), "committed")
    )

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "admin_review.png"
    assert browser.save_screenshot(str(screenshot))
    print("screenshot:", screenshot)

    diff.refresh_from_db()
    head_after = git(repo, "rev-parse", "main")
    print(f"main: {head_before[:12]} -> {head_after[:12]}")
    assert head_after != head_before
    assert diff.committed_sha == head_after
    assert browser.find_element(By.ID, "diff-committed-sha").text == head_after[:12]
    assert "You are a pirate assistant." in git(repo, "show", "main:workflow.py")
    assert f"committed as {head_after[:12]}" in browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text
