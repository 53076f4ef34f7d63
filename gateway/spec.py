"""How the gateway declares itself to the platform (entry point ``mosaic.gateway``:
``gateway = "mosaic_gateway.spec:GATEWAY"``): its database, migrations and start-up hooks."""
from __future__ import annotations

from mosaic.services import GatewaySpec

GATEWAY = GatewaySpec(
    name="gateway",
    package="mosaic_gateway",
    models=("mosaic_gateway.models",),
    tables=("tenants", "users", "refresh_tokens", "api_keys", "field_permissions", "idempotency_records"),
    app="mosaic_gateway.app:create_app",
    bootstrap="mosaic_gateway.bootstrap:bootstrap_embedded",
    tenant_command="mosaic_gateway.bootstrap:tenant_create_command",
)
