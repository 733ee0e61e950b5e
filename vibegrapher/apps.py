from django.apps import AppConfig


class VibegrapherConfig(AppConfig):
    """The project package as an app only for its system checks (no models)."""

    name = "vibegrapher"

    def ready(self) -> None:
        from vibegrapher import checks  # noqa: F401  (registers them)
