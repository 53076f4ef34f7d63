"""How a failed flush becomes the caller's answer (``RecordChecks._flush_write``): a concurrent
writer's traces — a stale version, a unique value taken meanwhile, a serialization failure, a
deadlock — are 409/412, anything else is left to surface as the bug it is."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from mosaic.errors import Conflict, PreconditionFailed
from mosaic.records.checks import RecordChecks


class Driver(Exception):
    def __init__(self, pgcode):
        super().__init__(pgcode)
        self.pgcode = pgcode


class Failing:
    def __init__(self, exc):
        self.exc = exc

    def flush(self):
        raise self.exc


def flush_with(exc, expected=None):
    checks = RecordChecks()
    checks.session = Failing(exc)
    checks._flush_write("Gadget", "g1", expected)


def test_a_stale_row_is_412_with_if_match_and_409_without():
    with pytest.raises(PreconditionFailed) as err:
        flush_with(StaleDataError("0 rows"), expected=3)
    assert "g1" in err.value.detail and "3" in err.value.detail
    with pytest.raises(Conflict):
        flush_with(StaleDataError("0 rows"))


@pytest.mark.parametrize("exc", [IntegrityError("INSERT", {}, Driver("23505")),
                                 OperationalError("UPDATE", {}, Driver("40001")),
                                 OperationalError("UPDATE", {}, Driver("40P01"))])
def test_concurrency_failures_of_the_database_are_409(exc):
    with pytest.raises(Conflict) as err:
        flush_with(exc)
    assert type(err.value) is Conflict


def test_other_database_errors_are_not_disguised():
    with pytest.raises(IntegrityError):
        flush_with(IntegrityError("INSERT", {}, Driver("23502")))  # not_null_violation: a bug
