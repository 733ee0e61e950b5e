"""The project list writes ids and timestamps itself; they must read exactly as the serializer writes them."""

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from rest_framework.fields import DateTimeField

from projects.selectors import _timestamp_text, _uuid_text

MOMENTS = [
    datetime(2026, 11, 27, 13, 0, 41, 855525, tzinfo=UTC),
    datetime(2026, 11, 27, 13, 0, 41, tzinfo=UTC),  # no microseconds: isoformat drops the fraction
    datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2))),  # PostgreSQL in another zone
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_timestamps_match_the_serializer(moment):
    expected = DateTimeField().to_representation(moment)
    sqlite_text = moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    print(f"{moment!r}: serializer {expected}, from datetime {_timestamp_text(moment)}, from {sqlite_text!r}")
    assert _timestamp_text(moment) == expected
    assert _timestamp_text(sqlite_text) == expected
    assert _timestamp_text(moment.astimezone(UTC).replace(tzinfo=None)) == expected  # naive is UTC


def test_ids_match_the_serializer():
    value = UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert _uuid_text(value) == str(value)
    assert _uuid_text(value.hex) == str(value)
