from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from vibegrapher.openapi import DocsView, SchemaView
from vibegrapher.views import HealthView, RootView

urlpatterns = [
    path("", RootView.as_view()),
    path("health", HealthView.as_view()),
    path(settings.ADMIN_URL, admin.site.urls),
    path("schema", SchemaView.as_view(), name="schema"),
    path("docs", DocsView.as_view(url_name="schema"), name="docs"),
    path("", include("projects.urls")),
    path("", include("sessions.urls")),
    path("", include("diffs.urls")),
    path("", include("testcases.urls")),
]

handler400 = "vibegrapher.errors.json_bad_request"
handler404 = "vibegrapher.errors.json_not_found"
handler500 = "vibegrapher.errors.json_server_error"
