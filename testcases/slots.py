"""How many sandboxes run at once in one server process (SANDBOX_CONCURRENCY), whoever asked for them:
tests, the gate and the playground share the slots."""

import threading

from django.conf import settings

_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None


def sandbox_slots() -> threading.BoundedSemaphore:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(max(1, settings.SANDBOX_CONCURRENCY))
        return _slots
