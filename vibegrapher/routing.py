from django.urls import path, re_path

from sessions.consumers import ProjectEventsConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/projects/<str:project_id>", ProjectEventsConsumer.as_asgi()),
    path("ws", ProjectEventsConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
