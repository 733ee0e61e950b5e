from django.urls import path

from diffs import views

urlpatterns = [
    path("projects/<str:project_id>/diffs", views.ProjectDiffsView.as_view()),
    path("sessions/<str:session_id>/diffs", views.SessionDiffsView.as_view()),
    path("sessions/<str:session_id>/diffs/pending", views.SessionPendingDiffsView.as_view()),
    path("diffs/<str:diff_id>", views.DiffDetailView.as_view()),
    path("diffs/<str:diff_id>/preview", views.DiffPreviewView.as_view()),
    path("diffs/<str:diff_id>/review", views.DiffReviewView.as_view()),
    path("diffs/<str:diff_id>/commit", views.DiffCommitView.as_view()),
    path("diffs/<str:diff_id>/refine-message", views.DiffRefineMessageView.as_view()),
]
