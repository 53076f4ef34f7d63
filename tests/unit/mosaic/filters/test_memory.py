"""``evaluate`` and the three-valued truth under it, on hand-picked cases and a few extras."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from mosaic.filters import evaluate, parse
from mosaic.filters.conformance import CASES
from mosaic.filters.memory import truth
from mosaic.filters.plan import lower


@pytest.mark.parametrize("text, record, expected", CASES)
def test_truth(text, record, expected, fields, now):
    flt = parse(text, fields)
    assert truth(lower(flt, now), record) is expected
    assert evaluate(flt, record, now) is (expected is True)


def test_naive_now_is_utc(fields):
    flt = parse("seen = today", fields)
    record = {"seen": datetime(2024, 5, 15, 23, 0, tzinfo=timezone.utc)}
    assert evaluate(flt, record, datetime(2024, 5, 15, 1, 0))
    assert not evaluate(flt, record, datetime(2024, 5, 16, 1, 0))


def test_record_values_may_be_text_or_python_types(fields, now):
    flt = parse("born = 2024-05-01 and seen < 2024-05-02 and score > 1 and age = 2", fields)
    assert evaluate(flt, {"born": "2024-05-01", "seen": "2024-05-01T08:00:00Z", "score": Decimal("1.5"),
                          "age": 2}, now)
    assert evaluate(flt, {"born": date(2024, 5, 1), "seen": datetime(2024, 5, 1, 8),
                          "score": "1.5", "age": 2.0}, now)


def test_month_arithmetic_clamps_to_month_end(fields):
    end_of_march = datetime(2024, 3, 31, 12, tzinfo=timezone.utc)
    flt = parse("born within last 1 month", fields)
    assert evaluate(flt, {"born": date(2024, 2, 29)}, end_of_march)
    assert not evaluate(flt, {"born": date(2024, 2, 28)}, end_of_march)


def test_huge_relative_ranges_do_not_overflow(fields, now):
    assert evaluate(parse("seen within last 9999 years", fields), {"seen": datetime(1, 1, 1, tzinfo=timezone.utc)}, now)
    assert evaluate(parse("born within next 99999 years", fields), {"born": date(9999, 12, 31)}, now)


def test_filter_is_reusable_with_other_nows(fields):
    flt = parse("born = today", fields)
    record = {"born": date(2024, 5, 1)}
    assert evaluate(flt, record, datetime(2024, 5, 1, tzinfo=timezone.utc))
    assert not evaluate(flt, record, datetime(2024, 5, 2, tzinfo=timezone.utc))
