"""The review queue: staff read a diff, its evaluator's reasoning and test results, and approve, reject,
commit or run the quick tests, through the same services as the REST API, and try the changed workflow
in the playground before approving it.

A rejection starts a new vibecode run. Under ASGI (daphne, the way the service runs) the admin view's
thread hands the run to the server's event loop and the page answers at once. Under WSGI or Django's
test client there is no server loop to keep the run alive after the request, so the request waits for
the run to end (in `VIBECODE_EXECUTOR=worker` mode a worker runs it and the request never waits).
"""

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from diffs import selectors, services
from diffs.models import Diff
from sessions.models import VibecodeRun
from sessions.vibecoder.executor import run_dispatch, run_wait
from testcases.playground import playground_run
from testcases.services import diff_run_tests
from vibegrapher.errors import ServiceError

logger = logging.getLogger(__name__)

DEFAULT_STATUS = Diff.Status.EVALUATOR_APPROVED
ALL = "all"


class TryItForm(forms.Form):
    """The playground on a diff: the changed workflow answers `input`, its model calls relayed by the service."""

    input = forms.CharField(
        max_length=20_000,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80, "placeholder": "A message to the changed workflow"}),
    )
    agent = forms.CharField(
        required=False,
        max_length=200,
        help_text="Node id of the agent to start from; empty for the entry agent.",
    )


class StatusFilter(admin.SimpleListFilter):
    """Status, showing the diffs waiting for a human unless another status (or all) is chosen."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(ALL, "All"), *((value, label) for value, label in Diff.Status.choices)]

    def choices(self, changelist: Any):
        current = self.value() or DEFAULT_STATUS
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Diff]) -> QuerySet[Diff]:
        value = self.value() or DEFAULT_STATUS
        return queryset if value == ALL else queryset.filter(status=value)


class RejectForm(forms.Form):
    feedback = forms.CharField(
        required=False,
        max_length=20_000,
        widget=forms.Textarea(
            attrs={"rows": 3, "cols": 80, "placeholder": "What should change? (sent to the vibecoder)"}
        ),
    )


def diff_lines(diff_content: str) -> list[tuple[str, str]]:
    """(kind, line) for each line of a unified diff; kind is added, removed, hunk, header or context."""
    lines = []
    for line in diff_content.splitlines():
        if line.startswith(("diff --git", "--- ", "+++ ", "\\ ")):
            kind = "header"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "added"
        elif line.startswith("-"):
            kind = "removed"
        else:
            kind = "context"
        lines.append((kind, line))
    return lines


def test_rows(test_results: Any) -> list[dict[str, Any]]:
    """The cached test results as rows, whatever list or mapping shape they are stored in."""
    if isinstance(test_results, dict) and isinstance(test_results.get("results"), list):
        items = test_results["results"]
    elif isinstance(test_results, dict):
        items = [
            value if isinstance(value, dict) else {"test_name": key, "status": value}
            for key, value in test_results.items()
        ]
    elif isinstance(test_results, list):
        items = test_results
    else:
        return []
    rows = []
    for item in items:
        if not isinstance(item, dict):
            continue
        rows.append(
            {
                "name": item.get("test_name") or item.get("name") or item.get("test_id") or "?",
                "status": item.get("status", "?"),
                "output": item.get("error") or item.get("output") or "",
                "time_ms": item.get("execution_time_ms"),
            }
        )
    return rows


def run_start_from_sync(request: HttpRequest, run: VibecodeRun) -> bool:
    """Start a stored run from sync code. Returns whether the request waited for it to finish (see module doc)."""
    wait = not isinstance(request, ASGIRequest) and settings.VIBECODE_EXECUTOR != "worker"

    async def dispatch() -> None:
        if wait:
            run_dispatch(str(run.id))
            await run_wait(str(run.id))
        else:
            run_dispatch(str(run.id))

    async_to_sync(dispatch)()
    return wait


@admin.register(Diff)
class DiffAdmin(admin.ModelAdmin):
    list_display = ["short_id", "commit_message", "project", "status", "created_at", "short_committed_sha"]
    list_display_links = ["short_id", "commit_message"]
    list_filter = [StatusFilter, "project"]
    list_select_related = ["project"]
    search_fields = ["commit_message", "vibecoder_prompt", "evaluator_reasoning"]
    ordering = ["-created_at"]
    actions = ["approve_selected", "commit_selected", "run_quick_tests_selected"]
    readonly_fields = (
        "id",
        "project",
        "session",
        "status",
        "base_commit",
        "target_branch",
        "commit_message",
        "vibecoder_prompt",
        "evaluator_reasoning",
        "human_feedback",
        "committed_sha",
        "tests_run_at",
        "test_results_json",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields

    # --- Lists and pages ---------------------------------------------------------------------

    @admin.display(description="diff")
    def short_id(self, diff: Diff) -> str:
        return str(diff.id)[:8]

    @admin.display(description="commit")
    def short_committed_sha(self, diff: Diff) -> str:
        return (diff.committed_sha or "")[:12]

    @admin.display(description="test results (raw)")
    def test_results_json(self, diff: Diff) -> str:
        return json.dumps(diff.test_results, indent=2) if diff.test_results is not None else "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # diffs come from vibecode runs

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        diff = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if diff is not None:
            before_svg, after_svg = selectors.diff_graphs(diff=diff)
            extra.update(
                # dot's own SVG output: labels are XML-escaped by dot, so it is safe to inline.
                graph_before=mark_safe(before_svg),  # noqa: S308
                graph_after=mark_safe(after_svg),  # noqa: S308
                diff_lines=diff_lines(diff.diff_content),
                test_rows=test_rows(diff.test_results),
                reject_form=RejectForm(),
                try_form=TryItForm(),
                can_review=diff.status == Diff.Status.EVALUATOR_APPROVED,
                can_commit=diff.status == Diff.Status.HUMAN_APPROVED,
                can_test=diff.status != Diff.Status.COMMITTED,
                show_save=False,
                show_save_and_continue=False,
                show_save_and_add_another=False,
            )
            if self.has_change_permission(request, diff):
                extra["title"] = f"Review diff {str(diff.id)[:8]}"
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        own = [
            path("<path:object_id>/approve/", self.admin_site.admin_view(self.approve_view), name="diffs_diff_approve"),
            path("<path:object_id>/reject/", self.admin_site.admin_view(self.reject_view), name="diffs_diff_reject"),
            path("<path:object_id>/commit/", self.admin_site.admin_view(self.commit_view), name="diffs_diff_commit"),
            path(
                "<path:object_id>/run-tests/",
                self.admin_site.admin_view(self.run_tests_view),
                name="diffs_diff_run_tests",
            ),
            path("<path:object_id>/try/", self.admin_site.admin_view(self.try_view), name="diffs_diff_try"),
        ]
        return own + super().get_urls()

    # --- One diff, from its page -------------------------------------------------------------

    def _back(self, diff: Diff) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:diffs_diff_change", args=[diff.pk]))

    def _post_only(self, request: HttpRequest) -> HttpResponse | None:
        return None if request.method == "POST" else HttpResponseNotAllowed(["POST"])

    def _permitted(self, request: HttpRequest, object_id: str) -> Diff | HttpResponse:
        refused = self._post_only(request)
        if refused is not None:
            return refused
        diff = self.get_object(request, object_id)
        if diff is None:
            raise Http404(f"Diff {object_id} not found.")
        if not self.has_change_permission(request, diff):
            return HttpResponse("You may not review diffs.", status=403)
        return diff

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        diff = self._permitted(request, object_id)
        if isinstance(diff, HttpResponse):
            return diff
        self._approve(request, diff)
        return self._back(diff)

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        diff = self._permitted(request, object_id)
        if isinstance(diff, HttpResponse):
            return diff
        form = RejectForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"Not rejected: {form.errors.as_text()}")
            return self._back(diff)
        try:
            diff, run = services.diff_reject(diff=diff, feedback=form.cleaned_data["feedback"])
        except ServiceError as exc:
            messages.error(request, exc.detail)
            return self._back(diff)
        if run is None and diff.session_id is None:
            messages.warning(
                request, f"Diff {diff.id} rejected. Its session was deleted, so no new vibecode run started."
            )
        elif run is None:
            messages.warning(request, f"Diff {diff.id} rejected. No new vibecode run started; the session says why.")
        elif run_start_from_sync(request, run):
            run.refresh_from_db()
            outcome = (run.result or {}).get("status", run.status)
            messages.success(request, f"Diff {diff.id} rejected. The new vibecode run ended: {outcome}.")
        else:
            messages.success(request, f"Diff {diff.id} rejected. A new vibecode run started in session {diff.session}.")
        return self._back(diff)

    def commit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        diff = self._permitted(request, object_id)
        if isinstance(diff, HttpResponse):
            return diff
        self._commit(request, diff)
        return self._back(diff)

    def run_tests_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        diff = self._permitted(request, object_id)
        if isinstance(diff, HttpResponse):
            return diff
        self._run_quick_tests(request, diff)
        return self._back(diff)

    def try_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: run the playground on the diff's version of the workflow and show its answer and steps."""
        diff = self._permitted(request, object_id)
        if isinstance(diff, HttpResponse):
            return diff
        form = TryItForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"Not run: {form.errors.as_text()}")
            return self._back(diff)
        try:
            result = async_to_sync(playground_run)(
                project=diff.project,
                input=form.cleaned_data["input"],
                diff_id=diff.id,
                agent=form.cleaned_data["agent"] or None,
            )
        except ServiceError as exc:
            messages.error(request, f"The playground did not run: {exc.detail}")
            return self._back(diff)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": diff,
            "title": f"Try diff {str(diff.id)[:8]}",
            "result": result,
            "try_form": form,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/diffs/diff/try_it.html", context)

    # --- The same steps for one or many diffs -----------------------------------------------

    def _approve(self, request: HttpRequest, diff: Diff) -> bool:
        try:
            services.diff_approve(diff=diff)
        except ServiceError as exc:
            messages.error(request, exc.detail)
            return False
        messages.success(request, f"Diff {diff.id} approved.")
        return True

    def _commit(self, request: HttpRequest, diff: Diff) -> bool:
        try:
            diff = services.diff_commit(diff=diff)
        except ServiceError as exc:
            messages.error(request, exc.detail)
            return False
        assert diff.committed_sha is not None  # diff_commit sets it
        messages.success(request, f"Diff {diff.id} committed as {diff.committed_sha[:12]} on {diff.target_branch}.")
        return True

    def _run_quick_tests(self, request: HttpRequest, diff: Diff) -> bool:
        try:
            summary = diff_run_tests(diff=diff, test_ids=None)
        except ServiceError as exc:
            messages.error(request, f"The quick tests of diff {diff.id} did not run: {exc.detail}")
            return False
        except Exception as exc:  # told to the reviewer, who would otherwise see a bare 500; the traceback is logged
            logger.exception("Quick tests of diff %s failed to run", diff.id)
            messages.error(request, f"The quick tests of diff {diff.id} failed to run: {type(exc).__name__}: {exc}")
            return False
        messages.success(request, f"Quick tests of diff {diff.id}: {_summary_text(summary)}")
        return True

    @admin.action(description="Approve selected diffs (evaluator_approved -> human_approved)")
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Diff]) -> None:
        for diff in queryset.select_related("project", "session"):
            self._approve(request, diff)

    @admin.action(description="Commit selected diffs (human_approved, oldest first)")
    def commit_selected(self, request: HttpRequest, queryset: QuerySet[Diff]) -> None:
        for diff in queryset.select_related("project", "session").order_by("created_at"):
            self._commit(request, diff)

    @admin.action(description="Run quick tests on selected diffs")
    def run_quick_tests_selected(self, request: HttpRequest, queryset: QuerySet[Diff]) -> None:
        for diff in queryset.select_related("project", "session"):
            self._run_quick_tests(request, diff)


def _summary_text(summary: Any) -> str:
    if not isinstance(summary, dict) or "total" not in summary:
        return "done; the results are below."
    if not summary["total"]:
        return "the project has no quick tests."
    cached = " (unchanged since the last run, not rerun)" if summary.get("cached") else ""
    return f"{summary.get('passed', 0)} of {summary['total']} passed, {summary.get('failed', 0)} failed{cached}."
