"""When a stage timer falls due: plain days and hours, or business days (Monday to Friday, UTC).

The arithmetic is the platform's one offset calculation (:mod:`mosaic.automation.offsets`, also
used by scheduled rules and task due dates), so a "3 business days" means the same everywhere:
business days keep the time of day (Friday 10:00 plus one is Monday 10:00), and a start on a
weekend first moves to the next Monday at the same time of day (Saturday 10:00 plus one business
day is Tuesday 10:00). Holidays and working hours are the servicedesk's business calendar, to be
built on this.
"""
from __future__ import annotations

from datetime import datetime


def add_business_days(start: datetime, n: int) -> datetime:
    """``start`` (aware, or naive UTC) plus ``n`` (>= 0) business days, Monday to Friday in UTC."""
    if n < 0:
        raise ValueError("business days to add must not be negative")
    from mosaic.automation.offsets import add_offset

    return add_offset(start, {"business_days": int(n)})


def due_at(start: datetime, after: dict) -> datetime:
    """When a timer with ``after`` (``{"days": n}``, ``{"hours": n}`` or ``{"business_days": n}``,
    as checked by :func:`mosaic.processes.definitions.compile_process`) falls due from ``start``."""
    from mosaic.automation.offsets import add_offset

    return add_offset(start, after)
