"""Data layer: one declarative base, tenant scoping enforced in the session, green engines."""
from mosaic.db.base import Base, JSONType, TenantScoped, UTCDateTime, new_id, utcnow
from mosaic.db.engine import get_engine, make_engine, schema_for
from mosaic.db.tenancy import TenantLeak, system_session, tenant_session

__all__ = [
    "Base", "JSONType", "TenantScoped", "UTCDateTime", "new_id", "utcnow",
    "get_engine", "make_engine", "schema_for",
    "TenantLeak", "system_session", "tenant_session",
]
