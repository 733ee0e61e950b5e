"""A ModelSerializer for responses that builds its fields once per class, not once per response.

DRF's ModelSerializer introspects the model and makes a new Field object for every field each time a
serializer is instantiated; for one project that was half of the time `GET /projects/:id` spent in
its view. The JSON is the same: the same fields, in the same order, each turning its value into JSON
with its own `to_representation`, exactly as `Serializer.to_representation` does. Schema generation
(drf-spectacular) still reads the ordinary `fields`.

Use it only for output whose fields do not read the serializer's context (no hyperlinks, no
`SerializerMethodField` that looks at the request): the cached fields belong to one prototype
serializer, shared by every response.
"""

from typing import Any, ClassVar

from django.utils import timezone
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject


class OutputModelSerializer(serializers.ModelSerializer):
    # Set on first use, per class: read from the class's own __dict__, never inherited.
    _readable_fields_once: ClassVar[list[serializers.Field]]

    def to_representation(self, instance: Any) -> dict[str, Any]:
        cls = type(self)
        readable = cls.__dict__.get("_readable_fields_once")
        if readable is None:  # a race here only builds the same list twice
            readable = [field for field in cls().fields.values() if not field.write_only]
            for field in readable:
                if isinstance(field, serializers.DateTimeField) and not hasattr(field, "timezone"):
                    # Nothing activates another zone, so the current one is always settings.TIME_ZONE
                    # (UTC); fixing it here saves a context-local lookup per timestamp.
                    field.timezone = timezone.get_default_timezone()
            cls._readable_fields_once = readable
        ret: dict[str, Any] = {}
        for field in readable:
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            ret[field.field_name] = None if check_for_none is None else field.to_representation(attribute)
        return ret
