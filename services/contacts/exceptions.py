"""Errors of the contacts service: the platform's typed errors (``mosaic.errors``), which the
gateway translates in one place. Re-exported here so service code names them in one import."""
from mosaic.errors import (BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed,  # noqa: F401
                           ValidationFailed)
