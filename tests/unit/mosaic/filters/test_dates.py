"""Date helpers: UTC normalisation, calendar arithmetic, stored ISO forms."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from mosaic.filters.dates import (as_utc, day_last, day_start, iso_date, iso_datetime, shift, to_date,
                                  to_datetime)

UTC = timezone.utc
PLUS2 = timezone(timedelta(hours=2))


def test_as_utc_treats_naive_as_utc_and_converts_aware():
    assert as_utc(datetime(2024, 5, 1, 10)) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    converted = as_utc(datetime(2024, 5, 1, 10, tzinfo=PLUS2))
    assert converted.tzinfo == UTC and converted.hour == 8


@pytest.mark.parametrize("amount, unit, expected", [
    (-30, "minutes", datetime(2024, 3, 31, 11, 30, tzinfo=UTC)),
    (2, "hours", datetime(2024, 3, 31, 14, tzinfo=UTC)),
    (-1, "days", datetime(2024, 3, 30, 12, tzinfo=UTC)),
    (1, "weeks", datetime(2024, 4, 7, 12, tzinfo=UTC)),
    (-1, "months", datetime(2024, 2, 29, 12, tzinfo=UTC)),  # clamped to the month's end
    (1, "years", datetime(2025, 3, 31, 12, tzinfo=UTC)),
])
def test_shift(amount, unit, expected):
    assert shift(datetime(2024, 3, 31, 12, tzinfo=UTC), amount, unit) == expected


def test_shift_clamps_instead_of_overflowing():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert shift(start, -5000, "years").year == 1
    assert shift(start, 10 ** 7, "days").year == 9999


def test_day_bounds_cover_every_microsecond():
    assert day_start(date(2024, 5, 1)) == datetime(2024, 5, 1, tzinfo=UTC)
    assert day_last(date(2024, 5, 1)) + timedelta(microseconds=1) == datetime(2024, 5, 2, tzinfo=UTC)
    assert day_last(date.max).year == 9999


def test_iso_forms_are_fixed_width_utc():
    assert iso_date(date(5, 1, 2)) == "0005-01-02"
    assert iso_datetime(datetime(2024, 5, 1, 12, tzinfo=PLUS2)) == "2024-05-01T10:00:00.000000+00:00"
    assert iso_datetime(datetime(2024, 5, 1, 10, 0, 0, 5)) == "2024-05-01T10:00:00.000005+00:00"


def test_record_values_are_coerced():
    assert to_date("2024-05-01") == date(2024, 5, 1)
    assert to_date("2024-05-01T23:00:00+00:00") == date(2024, 5, 1)
    assert to_date("2024-05-01T23:00:00-02:00") == date(2024, 5, 2)
    assert to_date(datetime(2024, 5, 1, 23, tzinfo=timezone(timedelta(hours=-2)))) == date(2024, 5, 2)
    assert to_datetime("2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert to_datetime(date(2024, 5, 1)) == datetime(2024, 5, 1, tzinfo=UTC)
    assert to_date(None) is None and to_datetime(None) is None
