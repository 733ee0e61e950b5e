from django.urls import path

from testcases import views

urlpatterns = [
    path("projects/<str:project_id>/tests", views.ProjectTestsView.as_view()),
    path("projects/<str:project_id>/tests/quick", views.ProjectQuickTestsView.as_view()),
    path("projects/<str:project_id>/playground", views.PlaygroundView.as_view()),
    path("tests/<str:test_id>", views.TestDetailView.as_view()),
    path("tests/<str:test_id>/run", views.TestRunView.as_view()),
    # Owned here, not in diffs/urls.py: running tests is this app's job.
    path("diffs/<str:diff_id>/test", views.DiffTestsView.as_view()),
]
