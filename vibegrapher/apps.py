from django.apps import AppConfig


class VibegrapherConfig(AppConfig):
    """The project package as an app for its system checks and database connection handling (no models)."""

    name = "vibegrapher"

    def ready(self) -> None:
        import vibegrapher.checks  # noqa: F401  (registers them)
        from vibegrapher.connections import install

        install()
