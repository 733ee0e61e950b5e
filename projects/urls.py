from django.urls import path, re_path

from projects import git_http, views

urlpatterns = [
    re_path(r"^git/(?P<slug>[a-z0-9-]+)\.git/(?P<rest>.*)$", git_http.git_http),
    path("projects", views.ProjectListView.as_view()),
    path("projects/<str:project_id>", views.ProjectDetailView.as_view()),
    path("projects/<str:project_id>/nodes", views.ProjectNodesView.as_view()),
    path("projects/<str:project_id>/workflow.py", views.ProjectWorkflowFileView.as_view()),
    path("projects/<str:project_id>/graph", views.ProjectGraphView.as_view()),
    path("projects/<str:project_id>/graph.svg", views.ProjectGraphSvgView.as_view()),
    path("projects/<str:project_id>/commits", views.ProjectCommitsView.as_view()),
    path("projects/<str:project_id>/revert", views.ProjectRevertView.as_view()),
]
