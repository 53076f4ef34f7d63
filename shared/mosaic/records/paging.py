"""Sorting and keyset (cursor) pagination: record lists, and the one cursor format of every
keyset-paged list of the platform (:func:`pack_cursor`/:func:`unpack_cursor`; newest-first lists
on (time, id) use :func:`time_cursor`, :func:`read_time_cursor` and :func:`before_time`).

A cursor is the last row's sort value and id, base64-encoded JSON: stable under concurrent
inserts, and as fast on page 1000 as on page 1 (no OFFSET). NULLs sort last in both directions,
on SQLite and PostgreSQL alike. A cursor that is not one of the list's is a 400 naming ``cursor``.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable

from sqlalchemy import and_, or_

from mosaic.errors import BadRequest, ValidationFailed
from mosaic.metadata.values import format_datetime


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool


def page_limit(limit, most: int) -> int:
    """``limit`` as a page size from 1 to ``most``: a whole number (or its digits); a 422 naming
    ``limit`` otherwise (a boolean or a fraction is no page size)."""
    if isinstance(limit, str) and limit.strip().isdigit():
        limit = int(limit)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ValidationFailed("limit must be a whole number", errors={"limit": ["not a number"]})
    if not 1 <= limit <= most:
        raise ValidationFailed(f"limit must be between 1 and {most}", errors={"limit": [f"between 1 and {most}"]})
    return limit


def parse_sort(text: str | None, known: set[str], default: str = "-created_at") -> Sort:
    """``"-created_at"`` → Sort("created_at", descending=True). One field; id breaks ties."""
    text = (text or default).strip()
    if "," in text:
        raise BadRequest("sort takes one field (the record id breaks ties)", errors={"sort": ["one field only"]})
    desc = text.startswith("-")
    name = text.lstrip("+-")
    if name not in known:
        raise BadRequest(f"cannot sort by unknown field {name!r}", errors={"sort": [f"unknown field {name!r}"]})
    return Sort(name, desc)


def _plain(value):
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    return value


def _unplain(value):
    if isinstance(value, dict) and "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    if isinstance(value, dict) and "$d" in value:
        return date.fromisoformat(value["$d"])
    return value


_BAD_CURSOR = ["not a cursor of this list"]


def pack_cursor(data) -> str:
    """``data`` (JSON-able, dates and datetimes allowed at the top of a list or dict) as an
    opaque, URL-safe cursor: every keyset-paged list of the platform makes its cursors here."""
    if isinstance(data, dict):
        data = {k: _plain(v) for k, v in data.items()}
    elif isinstance(data, (list, tuple)):
        data = [_plain(v) for v in data]
    raw = json.dumps(data)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def unpack_cursor(cursor: str, check: Callable[[Any], Any]):
    """The value ``check`` makes of what :func:`pack_cursor` packed; any malformed or forged
    cursor — or one ``check`` refuses by raising ValueError, KeyError or TypeError — is a
    BadRequest (400) naming ``cursor``, never an error of the service."""
    try:
        if not isinstance(cursor, str):
            raise TypeError("a cursor is a string")
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if isinstance(data, dict):
            data = {k: _unplain(v) for k, v in data.items()}
        elif isinstance(data, list):
            data = [_unplain(v) for v in data]
        return check(data)
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("invalid cursor", errors={"cursor": _BAD_CURSOR}) from None


def encode_cursor(sort: Sort, value, record_id: str) -> str:
    """The cursor after a record list's row with sort value ``value`` and id ``record_id``."""
    return pack_cursor({"f": sort.field, "d": sort.descending, "v": value, "id": record_id})


def decode_cursor(cursor: str, sort: Sort) -> tuple[object, str]:
    """The (sort value, id) a cursor carries; BadRequest if it is forged or from another sort."""
    def check(data):
        if data["f"] != sort.field or data["d"] != sort.descending or not isinstance(data["id"], str):
            raise ValueError("cursor of another sort")
        return data["v"], data["id"]
    return unpack_cursor(cursor, check)


# -- newest-first lists keyed on (time, id): history, timelines, notifications, deliveries ------
def time_cursor(at: datetime, item_id: str) -> str:
    """The cursor after an item of a newest-first list (its time and id)."""
    return pack_cursor([format_datetime(at), str(item_id)])


def read_time_cursor(cursor: str) -> tuple[datetime, str]:
    """The (time, id) a :func:`time_cursor` carries (BadRequest for anything else)."""
    def check(data):
        at, item_id = data
        if not isinstance(at, str) or not isinstance(item_id, str):
            raise TypeError("not a time cursor")
        return datetime.fromisoformat(at), item_id
    return unpack_cursor(cursor, check)


def before_time(at_col, id_col, cursor: tuple[datetime, str]):
    """Rows after ``cursor`` in newest-first order: older, or as old with a smaller id."""
    at, item_id = cursor
    return or_(at_col < at, and_(at_col == at, id_col < item_id))


def newest_first(at_col, id_col) -> tuple:
    """ORDER BY of a newest-first list, the id breaking ties like :func:`before_time` does."""
    return at_col.desc(), id_col.desc()


def order_by(expr, id_col, sort: Sort, nullable: bool = True) -> list:
    """ORDER BY for the sort, NULLs last, id as tie-breaker in the same direction.

    A column that cannot be NULL gets a plain ORDER BY, which an index on it can serve (a
    ``DESC NULLS LAST`` does not match a default btree read backwards)."""
    if not nullable:
        return [expr.desc(), id_col.desc()] if sort.descending else [expr.asc(), id_col.asc()]
    if sort.descending:
        return [expr.desc().nulls_last(), id_col.desc()]
    return [expr.asc().nulls_last(), id_col.asc()]


def after(expr, id_col, sort: Sort, value, record_id: str, nullable: bool = True):
    """Rows strictly after (value, id) in the order of :func:`order_by`."""
    if value is None:  # already among the NULLs, which come last
        return and_(expr.is_(None), id_col < record_id if sort.descending else id_col > record_id)
    if sort.descending:
        beyond, tie = expr < value, id_col < record_id
    else:
        beyond, tie = expr > value, id_col > record_id
    if not nullable:
        return or_(beyond, and_(expr == value, tie))
    return or_(beyond, and_(expr == value, tie), expr.is_(None))
