"""Time offsets in definitions (``{"days": -3}``, ``{"hours": 4}``, ``{"business_days": 2}``):
checking them and adding them to a moment.

Business days are Monday to Friday in UTC (no holiday calendar yet): adding one business day to
a Friday gives the Monday, and a moment on a weekend first moves to the next (or, going back, the
previous) working day at the same time of day.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

UNITS = ("days", "hours", "business_days")
#: generous bounds: ten years either way is more than any reminder or timer needs
_LIMITS = {"days": 3660, "hours": 3660 * 24, "business_days": 2610}


def check_offset(value: Any, path: str, *, allow_negative: bool = True) -> tuple[dict | None, dict]:
    """``(normalised offset, errors)`` for an offset definition at JSON path ``path``.

    An offset is an object with exactly one of ``days``, ``hours``, ``business_days`` set to a
    whole number."""
    if not isinstance(value, dict) or len(value) != 1:
        return None, {path: [f"must be an object with exactly one of {', '.join(UNITS)}"]}
    (unit, amount), = value.items()
    if unit not in UNITS:
        return None, {path: [f"unknown unit {unit!r}; use one of {', '.join(UNITS)}"]}
    if isinstance(amount, bool) or not isinstance(amount, int):
        if isinstance(amount, float) and amount.is_integer():
            amount = int(amount)  # JSON clients send 2.0 for 2
        else:
            return None, {f"{path}.{unit}": ["must be a whole number"]}
    if not allow_negative and amount < 0:
        return None, {f"{path}.{unit}": ["must not be negative"]}
    if abs(amount) > _LIMITS[unit]:
        return None, {f"{path}.{unit}": [f"must be between -{_LIMITS[unit]} and {_LIMITS[unit]}"]}
    return {unit: amount}, {}


def as_moment(value: date | datetime) -> datetime:
    """A date as midnight UTC of that day; a datetime as aware UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return datetime.combine(value, time.min, tzinfo=timezone.utc)


def add_offset(moment: date | datetime, offset: dict) -> datetime:
    """``moment`` (a date counts as its midnight UTC) moved by ``offset``."""
    start = as_moment(moment)
    (unit, amount), = offset.items()
    if unit == "days":
        return start + timedelta(days=amount)
    if unit == "hours":
        return start + timedelta(hours=amount)
    return _add_business_days(start, amount)


def _add_business_days(start: datetime, amount: int) -> datetime:
    step = 1 if amount >= 0 else -1
    moment = start
    while moment.weekday() >= 5:  # a weekend start counts from the nearest working day
        moment += timedelta(days=step)
    for _ in range(abs(amount)):
        moment += timedelta(days=step)
        while moment.weekday() >= 5:
            moment += timedelta(days=step)
    return moment


def approx_span(offset: dict) -> tuple[timedelta, timedelta]:
    """``(span, slack)``: ``moment + span`` is within ``slack`` of ``add_offset(moment, offset)``
    for any moment — what a range query over the unshifted field needs (business days cannot be
    inverted exactly, so the caller widens the range by ``slack`` and checks each hit exactly)."""
    (unit, amount), = offset.items()
    if unit == "days":
        return timedelta(days=amount), timedelta(days=1)
    if unit == "hours":
        return timedelta(hours=amount), timedelta(days=1)
    return timedelta(days=amount * 7 / 5), timedelta(days=4)
