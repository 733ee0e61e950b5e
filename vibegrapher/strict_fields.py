"""Request fields that take their documented JSON type only.

DRF's CharField (and RegexField) turns a JSON number into a string, UUIDField reads an integer as a
UUID and BooleanField takes "yes", "1" or 1 for true, so `{"name": 123}` or `{"approved": "no"}` would
be accepted. The API documents strings and booleans; anything else is a 400.
"""

import uuid
from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers


class StringsOnly(serializers.CharField):
    """Base for a string field: a value that is not a `str` fails with "Not a valid string."."""

    default_error_messages = {"not_a_string": "Not a valid string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class _DocumentedPattern(RegexValidator):
    """What DRF's CharField checks itself (no NUL character; after trimming, not blank), as a regex that
    drf-spectacular writes into the field's schema as `pattern`. It never fails: DRF's own checks answer."""

    def __call__(self, value: Any) -> None:
        return None


class StrictCharField(StringsOnly, serializers.CharField):
    """A string whose schema says what DRF refuses beyond its length: a NUL character anywhere, and, when it
    is trimmed and may not be blank, a value of whitespace only (`minLength: 1` alone would not tell)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.allow_blank:
            # The schema gives a blank-allowed string as `oneOf: [<this>, {maxLength: 0}]`; "" must match
            # only the second (DRF takes "" before the validators run).
            self.validators.append(_DocumentedPattern(r"^[^\x00]+$"))
        elif self.trim_whitespace:
            self.validators.append(_DocumentedPattern(r"^[^\x00]*[^\s\x00][^\x00]*$"))
        else:
            self.validators.append(_DocumentedPattern(r"^[^\x00]*$"))


class StrictRegexField(StringsOnly, serializers.RegexField):
    pass


class StrictUUIDField(serializers.UUIDField):
    """A UUIDField that takes the UUID's text only, not an integer."""

    def to_internal_value(self, data: Any) -> uuid.UUID:
        if not isinstance(data, str | uuid.UUID):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON `true` or `false` only."""

    default_error_messages = {"not_a_boolean": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("not_a_boolean")
        return data
