"""Django's deploy checks for the security middleware, for the subclasses settings.MIDDLEWARE names.

Django's own (security.W001, W002, W003) look for the exact dotted paths of its classes, so they
cannot see `vibegrapher.middleware`'s subclasses and are silenced in settings; these check the same
thing by class, so removing one of them is still reported.
"""

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string

REQUIRED = {
    "vibegrapher.W001": SecurityMiddleware,
    "vibegrapher.W002": XFrameOptionsMiddleware,
    "vibegrapher.W003": CsrfViewMiddleware,
}


@register(Tags.security, deploy=True)
def security_middleware_check(app_configs, **kwargs) -> list[CheckMessage]:
    installed = [import_string(path) for path in settings.MIDDLEWARE]
    return [
        Warning(f"No subclass of {required.__module__}.{required.__name__} in MIDDLEWARE.", id=check_id)
        for check_id, required in REQUIRED.items()
        if not any(isinstance(cls, type) and issubclass(cls, required) for cls in installed)
    ]
