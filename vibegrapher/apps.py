from django.apps import AppConfig


class VibegrapherConfig(AppConfig):
    """The project package as an app for its database connection handling (no models)."""

    name = "vibegrapher"

    def ready(self) -> None:
        from vibegrapher.connections import install

        install()
