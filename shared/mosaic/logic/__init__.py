"""The tenant's low-code logic: definitions admins store, what plugins declare, compiled into one
:class:`~mosaic.logic.tenant.TenantLogic` per tenant that the write pipeline and timers use."""
from mosaic.logic.tenant import TenantLogic, build_logic, tenant_logic

__all__ = ["TenantLogic", "build_logic", "tenant_logic"]
