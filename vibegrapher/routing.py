from django.urls import path

from sessions.consumers import ProjectEventsConsumer

websocket_urlpatterns = [
    path("ws/projects/<str:project_id>", ProjectEventsConsumer.as_asgi()),
    path("ws", ProjectEventsConsumer.as_asgi()),
]
