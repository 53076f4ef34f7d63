"""Fixtures for the formula tests: a field set factory, a record factory and a fixed ``now``."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from mosaic.metadata.fields import FieldDef, FieldType

NOW = datetime(2024, 5, 15, 10, 30, tzinfo=timezone.utc)

FIELDS = (
    FieldDef("name", FieldType.TEXT),
    FieldDef("email", FieldType.EMAIL),
    FieldDef("stage", FieldType.PICKLIST, choices=("new", "won")),
    FieldDef("account", FieldType.LOOKUP, lookup="account"),
    FieldDef("qty", FieldType.INTEGER),
    FieldDef("rate", FieldType.PERCENT),
    FieldDef("score", FieldType.DECIMAL),
    FieldDef("price", FieldType.MONEY),
    FieldDef("vip", FieldType.BOOLEAN),
    FieldDef("born", FieldType.DATE),
    FieldDef("seen", FieldType.DATETIME),
    FieldDef("tags", FieldType.MULTI_PICKLIST),
    FieldDef("notes", FieldType.LONG_TEXT),
    FieldDef("double", FieldType.FORMULA, formula="qty * 2", formula_type="integer"),
    FieldDef("untyped", FieldType.FORMULA, formula="qty"),
)


def _make_fields(**overrides: FieldDef | None) -> dict[str, FieldDef]:
    fields = {f.name: f for f in FIELDS}
    for name, fd in overrides.items():
        if fd is None:
            fields.pop(name, None)
        else:
            fields[name] = fd
    return fields


def _make_record(**overrides) -> dict:
    record = {"name": "Ann Lee", "email": "ann@example.com", "stage": "new", "account": "a1",
              "qty": 3, "rate": 12.5, "score": 2.5, "price": {"amount": 200.0, "currency": "EUR"},
              "vip": True, "born": date(1990, 2, 3),
              "seen": datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc), "tags": ["x"],
              "notes": "long", "double": 6}
    record.update(overrides)
    return record


@pytest.fixture(scope="session")
def make_fields():
    """Factory: ``make_fields(age=FieldDef(...), vip=None)`` -> the test fields with overrides."""
    return _make_fields


@pytest.fixture
def fields() -> dict[str, FieldDef]:
    """The standard test fields by name."""
    return _make_fields()


@pytest.fixture(scope="session")
def make_record():
    """Factory: ``make_record(qty=None)`` -> a record's python values with overrides."""
    return _make_record


@pytest.fixture
def now() -> datetime:
    """The fixed moment formulas are evaluated at (2024-05-15T10:30:00Z)."""
    return NOW


@pytest.fixture
def calc(fields, make_record, now):
    """``calc(text, **record_overrides)`` -> the formula's value on the standard record."""
    from mosaic.formulas import parse_formula

    def run(text: str, **overrides):
        return parse_formula(text, fields).evaluate(make_record(**overrides), now)
    return run
