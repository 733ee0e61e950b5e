from django.urls import path

from sessions import views

urlpatterns = [
    path("projects/<str:project_id>/sessions", views.ProjectSessionsView.as_view()),
    path("sessions/<str:session_id>", views.SessionDetailView.as_view()),
    path("sessions/<str:session_id>/messages", views.SessionMessagesView.as_view()),
    path("messages/<str:message_id>/full", views.MessageFullView.as_view()),
]
