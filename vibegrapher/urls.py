from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("projects.urls")),
    path("", include("sessions.urls")),
    path("", include("diffs.urls")),
    path("", include("testcases.urls")),
]

handler400 = "vibegrapher.errors.json_bad_request"
handler404 = "vibegrapher.errors.json_not_found"
handler500 = "vibegrapher.errors.json_server_error"
