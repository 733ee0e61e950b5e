from django.urls import path

from projects import views

urlpatterns = [
    path("health", views.HealthView.as_view()),
    path("projects", views.ProjectListView.as_view()),
    path("projects/<str:project_id>", views.ProjectDetailView.as_view()),
    path("projects/<str:project_id>/nodes", views.ProjectNodesView.as_view()),
    path("projects/<str:project_id>/workflow.py", views.ProjectWorkflowFileView.as_view()),
    path("projects/<str:project_id>/graph", views.ProjectGraphView.as_view()),
    path("projects/<str:project_id>/graph.svg", views.ProjectGraphSvgView.as_view()),
    path("projects/<str:project_id>/commits", views.ProjectCommitsView.as_view()),
    path("projects/<str:project_id>/revert", views.ProjectRevertView.as_view()),
]
