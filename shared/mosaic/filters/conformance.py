"""Conformance cases for the filter language: (filter, record, three-valued truth) over
:data:`FIELDS` at :data:`NOW`, covering every operator, every field kind, the edges of days and
relative ranges, and SQL's NULL logic.

The evaluator, the SQL compiler on SQLite and on PostgreSQL, and any record store's resolver must
all give these answers (store each record, select with the filter and with ``not (filter)``: the
row comes back for the first exactly when the truth is True, for the second when it is False).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from mosaic.metadata.fields import FieldDef, FieldType

#: 2024-05-15 is a Wednesday; 10:30 UTC keeps "today" and "now" apart.
NOW = datetime(2024, 5, 15, 10, 30, tzinfo=timezone.utc)

#: the fields the cases use, one of each kind (money, list and lookup included).
FIELDS: dict[str, FieldDef] = {f.name: f for f in (
    FieldDef("name", FieldType.TEXT),
    FieldDef("email", FieldType.EMAIL),
    FieldDef("age", FieldType.INTEGER),
    FieldDef("score", FieldType.DECIMAL),
    FieldDef("rate", FieldType.PERCENT),
    FieldDef("vip", FieldType.BOOLEAN),
    FieldDef("born", FieldType.DATE),
    FieldDef("seen", FieldType.DATETIME),
    FieldDef("stage", FieldType.PICKLIST, choices=("new", "won", "lost")),
    FieldDef("tags", FieldType.MULTI_PICKLIST, choices=("x", "y", "z")),
    FieldDef("price", FieldType.MONEY),
    FieldDef("account_id", FieldType.LOOKUP, lookup="account"),
)}

T, F, U = True, False, None  # U: unknown (SQL NULL)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0, month: int = 5):
    """An aware UTC datetime in 2024."""
    return datetime(2024, month, day, hour, minute, second, micro, tzinfo=timezone.utc)


def d(day: int, month: int = 5, year: int = 2024) -> date:
    """A date, in May 2024 unless told otherwise."""
    return date(year, month, day)


LAST_MICRO = dict(hour=23, minute=59, second=59, micro=999999)

#: (filter text, record, True | False | None for unknown)
CASES: list[tuple[str, dict, bool | None]] = [
    # text: equality is case-sensitive, ordering is code-point (byte) order
    ('name = "Ann"', {"name": "Ann"}, T),
    ('name = "Ann"', {"name": "ann"}, F),
    ('name = "Ann"', {}, U),
    ('name = "Ann"', {"name": None}, U),
    ('name != "Ann"', {"name": "Bob"}, T),
    ('name != "Ann"', {}, U),
    ('name < "b"', {"name": "B"}, T),
    ('name < "b"', {"name": "é"}, F),
    ('name >= "a"', {"name": "a"}, T),
    ('name in ("a", "b")', {"name": "b"}, T),
    ('name in ("a", "b")', {"name": "c"}, F),
    ('name in ("a", "b")', {}, U),
    ('name not in ("a", "b")', {"name": "c"}, T),
    ('name not in ("a", "b")', {"name": "a"}, F),
    ('name not in ("a", "b")', {}, U),
    # matching: case-insensitive (Unicode), wildcards in the value taken literally
    ('name contains "AN"', {"name": "Joanna"}, T),
    ('name contains "AN"', {"name": "Jo"}, F),
    ('name contains "AN"', {}, U),
    ('name contains "É"', {"name": "café"}, T),
    ('name contains "%"', {"name": "100%"}, T),
    ('name contains "%"', {"name": "100"}, F),
    ('name contains "_"', {"name": "a_b"}, T),
    ('name contains "_"', {"name": "ab"}, F),
    ('name contains "\\\\"', {"name": "a\\b"}, T),
    ('name contains "\\\\"', {"name": "ab"}, F),
    ('name contains "\'"', {"name": "O'Hara"}, T),
    ('name startswith "jo"', {"name": "Joanna"}, T),
    ('name startswith "jo"', {"name": "Ajo"}, F),
    ('name endswith "NA"', {"name": "Joanna"}, T),
    ('name endswith "NA"', {"name": "Joan"}, F),
    ('name contains ""', {"name": ""}, T),
    ('name contains ""', {}, U),
    ("name is null", {}, T),
    ("name is null", {"name": None}, T),
    ("name is null", {"name": ""}, F),
    ("name is not null", {}, F),
    ("name is not null", {"name": "x"}, T),
    ('email endswith "@EXAMPLE.org"', {"email": "ann@example.org"}, T),
    ('account_id = "a1"', {"account_id": "a1"}, T),
    ('stage in ("won", "lost")', {"stage": "won"}, T),
    # numbers
    ("age > 3", {"age": 4}, T),
    ("age > 3", {"age": 3}, F),
    ("age > 3", {}, U),
    ("age >= 2.5", {"age": 3}, T),
    ("age >= 2.5", {"age": 2}, F),
    ("age = 3.0", {"age": 3}, T),
    ("age in (1, 2)", {"age": 2}, T),
    ("age in (1, 2)", {"age": 3}, F),
    ("age <= -1", {"age": -1}, T),
    ("age > 1099511627776", {"age": 1099511627777}, T),
    ("score = 0.3", {"score": 0.3}, T),
    ("score = 0.3", {"score": 0.1 + 0.2}, F),
    ("score < 1", {"score": 0.5}, T),
    ("score != 1", {"score": 1}, F),
    ("rate >= 50", {"rate": 50}, T),
    # booleans
    ("vip = true", {"vip": True}, T),
    ("vip = true", {"vip": False}, F),
    ("vip = true", {}, U),
    ("vip != true", {"vip": False}, T),
    ("vip in (false)", {"vip": False}, T),
    ("vip is null", {"vip": False}, F),
    # dates (now 2024-05-15T10:30Z; today 2024-05-15)
    ("born = today", {"born": d(15)}, T),
    ("born = today", {"born": "2024-05-15"}, T),
    ("born = today", {"born": d(14)}, F),
    ("born before today", {"born": d(14)}, T),
    ("born before today", {"born": d(15)}, F),
    ("born after today", {"born": d(16)}, T),
    ("born after today", {"born": d(15)}, F),
    ("born < now", {"born": d(14)}, T),
    ("born < now", {"born": d(15)}, F),
    ("born within last 7 days", {"born": d(8)}, T),
    ("born within last 7 days", {"born": d(7)}, F),
    ("born within last 7 days", {"born": d(15)}, T),
    ("born within last 7 days", {"born": d(16)}, F),
    ("born within last 7 days", {}, U),
    ("born within next 1 month", {"born": d(15, 6)}, T),
    ("born within next 1 month", {"born": d(16, 6)}, F),
    ("born within last 1 year", {"born": d(15, 5, 2023)}, T),
    ("born within last 1 year", {"born": d(14, 5, 2023)}, F),
    ("born within last 12 hours", {"born": d(14)}, T),
    ("born = 2024-05-15T23:00:00Z", {"born": d(15)}, T),
    ("born in (2024-05-01, today)", {"born": d(15)}, T),
    ("born in (2024-05-01, today)", {"born": d(2)}, F),
    # datetimes: a date stands for the whole UTC day
    ("seen = today", {"seen": at(15)}, T),
    ("seen = today", {"seen": at(15, **LAST_MICRO)}, T),
    ("seen = today", {"seen": at(16)}, F),
    ("seen = today", {"seen": at(14, **LAST_MICRO)}, F),
    ("seen = today", {"seen": "2024-05-15T12:00:00.000000+00:00"}, T),
    ("seen = today", {}, U),
    ("seen != today", {"seen": at(16)}, T),
    ("seen != today", {"seen": at(15, 9)}, F),
    ("seen != today", {}, U),
    ("seen after today", {"seen": at(16)}, T),
    ("seen after today", {"seen": at(15, **LAST_MICRO)}, F),
    ("seen before today", {"seen": at(14, **LAST_MICRO)}, T),
    ("seen before today", {"seen": at(15)}, F),
    ("seen <= 2024-05-15", {"seen": at(15, 23)}, T),
    ("seen <= 2024-05-15", {"seen": at(16)}, F),
    ("seen > 2024-05-15", {"seen": at(16)}, T),
    ("seen > 2024-05-15", {"seen": at(15, 23, 59)}, F),
    ("seen >= today", {"seen": at(15)}, T),
    ("seen >= today", {"seen": at(14, 23)}, F),
    ("seen < now", {"seen": at(15, 10, 29)}, T),
    ("seen < now", {"seen": at(15, 10, 30)}, F),
    ("seen within last 2 hours", {"seen": at(15, 8, 30)}, T),
    ("seen within last 2 hours", {"seen": at(15, 8, 29, 59)}, F),
    ("seen within last 2 hours", {"seen": at(15, 10, 31)}, F),
    ("seen within next 30 minutes", {"seen": at(15, 11)}, T),
    ("seen within next 30 minutes", {"seen": at(15, 11, 0, 1)}, F),
    ("seen within last 1 week", {"seen": at(8, 10, 30)}, T),
    ("seen within last 1 week", {"seen": at(8, 10, 29)}, F),
    ("seen within last 0 days", {"seen": at(15, 10, 30)}, T),
    ("seen in (2024-05-14, 2024-05-15T10:30:00Z)", {"seen": at(14, 18)}, T),
    ("seen in (2024-05-14, 2024-05-15T10:30:00Z)", {"seen": at(15, 10, 30)}, T),
    ("seen in (2024-05-14, 2024-05-15T10:30:00Z)", {"seen": at(15, 10, 31)}, F),
    ("seen not in (2024-05-14)", {"seen": at(15)}, T),
    ("seen = 2024-05-15T12:30:00+02:00", {"seen": at(15, 10, 30)}, T),
    ("seen > 2024-05-15T10:00:00Z",
     {"seen": datetime(2024, 5, 15, 12, 30, tzinfo=timezone(timedelta(hours=2)))}, T),
    ("seen = 2024-05-15T10:30:00.000001Z", {"seen": at(15, 10, 30, 0, 1)}, T),
    ("seen = 2024-05-15T10:30:00.000001Z", {"seen": at(15, 10, 30)}, F),
    # list fields: exact element membership; no list is unknown
    ('tags contains "x"', {"tags": ["x", "y"]}, T),
    ('tags contains "x"', {"tags": ["y"]}, F),
    ('tags contains "x"', {"tags": []}, F),
    ('tags contains "x"', {"tags": ["X"]}, F),
    ('tags contains "x"', {"tags": None}, U),
    ('tags contains "x"', {}, U),
    ("tags is null", {}, T),
    ("tags is null", {"tags": None}, T),
    ("tags is null", {"tags": []}, F),
    ("tags is not null", {"tags": ["z"]}, T),
    ('not tags contains "x"', {"tags": ["y"]}, T),
    ('not tags contains "x"', {"tags": None}, U),
    # money
    ("price > 10", {"price": {"amount": 11, "currency": "EUR"}}, T),
    ("price.amount > 10", {"price": {"amount": 10.5, "currency": "EUR"}}, T),
    ("price > 10", {"price": None}, U),
    ("price > 10", {"price": {"amount": None, "currency": "EUR"}}, U),
    ('price.currency = "EUR"', {"price": {"amount": 1, "currency": "EUR"}}, T),
    ('price.currency = "EUR"', {"price": {"amount": 1, "currency": "USD"}}, F),
    ('price.currency = "EUR"', {}, U),
    ("price is null", {"price": None}, T),
    ("price is null", {"price": {"amount": 3, "currency": "EUR"}}, F),
    ("price.currency is null", {"price": {"amount": 3, "currency": None}}, T),
    # three-valued logic
    ("age > 3 or vip = true", {"vip": True}, T),
    ("age > 3 or vip = true", {"vip": False}, U),
    ("age > 3 or vip = true", {"age": 5}, T),
    ("age > 3 and vip = true", {"vip": False}, F),
    ("age > 3 and vip = true", {"vip": True}, U),
    ("not age > 3", {}, U),
    ("not age > 3", {"age": 1}, T),
    ("not (age > 3 and vip = true)", {"vip": False}, T),
    ("not (age > 3 and vip = true)", {"vip": True}, U),
    ("age > 3 or age <= 3", {}, U),
    ("age is null or age > 3", {}, T),
    ("not not age > 3", {"age": 4}, T),
]
