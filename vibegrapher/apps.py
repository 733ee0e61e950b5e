from django.apps import AppConfig

from vibegrapher.connections import install


class VibegrapherConfig(AppConfig):
    """The project package as an app for its database connection handling (no models)."""

    name = "vibegrapher"

    def ready(self) -> None:
        install()
