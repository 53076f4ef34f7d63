"""Fixtures for the filter language tests: a field set factory and a fixed ``now``."""
from __future__ import annotations

from datetime import datetime

import pytest

from mosaic.filters.conformance import FIELDS, NOW
from mosaic.metadata.fields import FieldDef, FieldType


def _make_fields(**overrides: FieldDef | None) -> dict[str, FieldDef]:
    """The conformance fields plus two formula fields (``total`` without a result type, ``rank``
    a decimal), by name; ``name=FieldDef(...)`` replaces or
    adds one, ``name=None`` removes it."""
    fields = {**FIELDS, "total": FieldDef("total", FieldType.FORMULA, formula="price.amount * 2"),
              "rank": FieldDef("rank", FieldType.FORMULA, formula="score * 2", formula_type="decimal")}
    for name, field_def in overrides.items():
        if field_def is None:
            fields.pop(name, None)
        else:
            fields[name] = field_def
    return fields


@pytest.fixture(scope="session")
def make_fields():
    """Factory: ``make_fields(age=FieldDef(...), vip=None)`` -> a field set with overrides."""
    return _make_fields


@pytest.fixture
def fields() -> dict[str, FieldDef]:
    """The standard test fields."""
    return _make_fields()


@pytest.fixture
def now() -> datetime:
    """A fixed moment every relative date is resolved against (2024-05-15T10:30:00Z)."""
    return NOW
