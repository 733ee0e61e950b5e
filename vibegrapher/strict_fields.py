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


class StrictCharField(StringsOnly, serializers.CharField):
    """A string; when it is trimmed and may not be blank, its schema says so with the pattern `\\S`: a name of
    spaces only is a 400 ("may not be blank"), which `minLength: 1` alone would not tell a client."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.trim_whitespace and not self.allow_blank:
            # Never fails: CharField rejects a blank value after trimming, before validators run. drf-spectacular
            # turns it into the field's `pattern`.
            self.validators.append(RegexValidator(r"\S", message="May not be blank."))


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
