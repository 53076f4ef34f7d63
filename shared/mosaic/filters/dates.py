"""Date arithmetic and the stored forms of dates, shared by the SQL compiler and the evaluator.

Everything is UTC: stored datetimes are UTC, ``today`` is the UTC date of the ``now`` a caller
passes, and a date compared with a datetime stands for that whole UTC day.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from dateutil.relativedelta import relativedelta

_DELTAS = {
    "minutes": lambda n: timedelta(minutes=n),
    "hours": lambda n: timedelta(hours=n),
    "days": lambda n: timedelta(days=n),
    "weeks": lambda n: timedelta(weeks=n),
    # Calendar units: one month after 31 January is the last day of February, not 3 March.
    "months": lambda n: relativedelta(months=n),
    "years": lambda n: relativedelta(years=n),
}


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def shift(moment: datetime, amount: int, unit: str) -> datetime:
    """``moment`` moved by ``amount`` ``unit`` (negative amounts go back), clamped to the range
    datetime can hold so that ``within last 10000 years`` means "since the beginning"."""
    try:
        return moment + _DELTAS[unit](amount)
    except (OverflowError, ValueError):  # timedelta overflows, relativedelta raises ValueError
        return datetime.min.replace(tzinfo=timezone.utc) if amount < 0 else datetime.max.replace(
            tzinfo=timezone.utc)


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def day_last(day: date) -> datetime:
    """The last microsecond (UTC) of ``day``."""
    return datetime.combine(day, time.max, tzinfo=timezone.utc)


def iso_date(value: date) -> str:
    """The stored text of a date: ``YYYY-MM-DD``."""
    return value.isoformat()


def iso_datetime(value: datetime) -> str:
    """The stored text of a datetime: fixed width ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` in UTC, so
    that text order is time order."""
    return as_utc(value).isoformat(timespec="microseconds")


def to_date(value) -> date | None:
    """A record's date value (date, ISO text, or a datetime taken as its UTC date) as a date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).date()
    if isinstance(value, date):
        return value
    text = str(value)
    return to_datetime(text).date() if len(text) > 10 else date.fromisoformat(text)


def to_datetime(value) -> datetime | None:
    """A record's datetime value (datetime or ISO text; a bare date is its UTC midnight) as an
    aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return day_start(value)
    return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
