"""Users as the services know them: a read model of each tenant's users, kept by the gateway
(``tenant_users``), and the owner check every record write makes against it."""
from mosaic.users.directory import check_owner, owner_error, sync_users, unknown_users
from mosaic.users.models import TenantUser

__all__ = ["TenantUser", "check_owner", "owner_error", "sync_users", "unknown_users"]
