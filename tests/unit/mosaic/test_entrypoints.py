"""What a service's RPC answers for failures that are not its own errors (``mosaic.entrypoints``)."""
from __future__ import annotations

import sys

from sqlalchemy.exc import TimeoutError as PoolTimeout

from mosaic.entrypoints import typed_exc_info
from mosaic.errors import ServiceUnavailable


def exc_info_of(exc: BaseException):
    try:
        raise exc
    except BaseException:
        return sys.exc_info()


def test_a_worker_that_got_no_database_connection_in_time_answers_503():
    cls, exc, _tb = typed_exc_info(exc_info_of(PoolTimeout("QueuePool limit of size 20 overflow 10 reached")))
    assert cls is ServiceUnavailable and isinstance(exc, ServiceUnavailable)
    assert exc.extra == {"reason": "database_busy", "retry_after": 1}
    assert isinstance(exc.__cause__, PoolTimeout)


def test_other_failures_are_answered_as_they_are():
    info = exc_info_of(ValueError("a bug"))
    assert typed_exc_info(info) is info
    assert typed_exc_info(None) is None
