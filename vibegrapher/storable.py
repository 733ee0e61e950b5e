"""Text as every supported database can store it."""

from typing import Any

NUL_SHOWN_AS = "\ufffd"


def without_nul(value: Any) -> Any:
    """The value with NUL characters in its strings (also inside dicts and lists) shown as U+FFFD:
    PostgreSQL text and jsonb cannot hold them, and a model's answer may contain one."""
    if isinstance(value, str):
        return value.replace("\x00", NUL_SHOWN_AS) if "\x00" in value else value
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value
