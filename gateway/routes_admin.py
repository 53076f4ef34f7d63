"""Administration API: the operator's tenants, and each tenant admin's modules, users, API keys,
roles and field permissions. Tenant admin views use the tenant-scoped session, so an id of
another tenant is simply not found (404)."""
from __future__ import annotations

from flask import Blueprint, request
from mosaic import permissions, services
from mosaic.request_log import REDACTED_NOTE
from mosaic_gateway import auth
from mosaic_gateway import identity as idm
from mosaic_gateway.contract import PROBLEM, declare, header, items_of, query
from mosaic_gateway.idempotency import idempotent, replayed, resource_id
from mosaic_gateway.models import ApiKey, User
from mosaic_gateway.responses import (
    ApiKeyCreatedSchema,
    ApiKeySchema,
    FieldPermissionListSchema,
    ModulesOutSchema,
    TenantCreatedSchema,
    TenantSchema,
    UserSchema,
)
from mosaic_gateway.schemas import (
    ApiKeyCreateSchema,
    FieldPermissionsSchema,
    ModulesSchema,
    TenantCreateSchema,
    TenantUpdateSchema,
    UserCreateSchema,
    UserUpdateSchema,
    api_key_out,
    field_permission_out,
    load,
    tenant_out,
    user_out,
)
from mosaic_gateway.user_sync import user_row, user_sync

bp = Blueprint("mosaic_admin", __name__)
admin_required = auth.roles_required("admin")
IDEMPOTENCY = header("Idempotency-Key", "replays the first response of the same key and body")
LOCATION = {201: {"Location": {"description": "the new resource", "schema": {"type": "string"}}}}


# ---------------------------------------------------------------- operator: tenants

@bp.post("/api/v1/tenants")
@declare("Create a tenant with its first admin", tag="operator", security="operator", body=TenantCreateSchema,
         params=[IDEMPOTENCY], headers=LOCATION,
         responses={201: TenantCreatedSchema, 409: PROBLEM, 422: PROBLEM})
@auth.operator_required
@idempotent
def create_tenant():
    """Create a tenant and its first admin."""
    data = load(TenantCreateSchema(), request)
    session = auth.gateway_system_session()
    admin = data["admin"]
    tenant, user = idm.create_tenant(session, data["slug"], data["name"], admin["email"], admin["password"],
                                     modules=data["modules"], admin_name=admin["name"])
    session.commit()
    user_sync().push(tenant.id, [user_row(user)])
    return ({**tenant_out(tenant), "admin": user_out(user)}, 201,
            {"Location": f"/api/v1/tenants/{tenant.id}"})


@bp.get("/api/v1/tenants")
@declare("List tenants", tag="operator", security="operator", responses={200: items_of(TenantSchema)})
@auth.operator_required
def list_tenants():
    """Every tenant."""
    return {"items": [tenant_out(t) for t in idm.list_tenants(auth.gateway_system_session())]}


@bp.get("/api/v1/tenants/<tenant_id>")
@declare("One tenant", tag="operator", security="operator", responses={200: TenantSchema, 404: PROBLEM})
@auth.operator_required
def get_tenant(tenant_id: str):
    """One tenant."""
    return tenant_out(idm.get_tenant(auth.gateway_system_session(), tenant_id))


@bp.patch("/api/v1/tenants/<tenant_id>")
@declare("Rename, suspend or change the modules of a tenant", tag="operator", security="operator",
         body=TenantUpdateSchema, responses={200: TenantSchema, 404: PROBLEM, 422: PROBLEM})
@auth.operator_required
def update_tenant(tenant_id: str):
    """Rename, suspend (``active: false``) or change the modules of a tenant."""
    data = load(TenantUpdateSchema(), request)
    session = auth.gateway_system_session()
    tenant = idm.update_tenant(session, tenant_id, **data)
    session.commit()
    auth.invalidate_tenant(tenant_id)
    return tenant_out(tenant)


# ---------------------------------------------------------------- tenant admin: modules

@bp.get("/api/v1/admin/modules")
@declare("Modules enabled for the tenant, and what could be enabled", tag="admin", responses={200: ModulesOutSchema})
@admin_required
def get_modules():
    """The tenant's enabled modules, and what could be enabled."""
    return {"modules": list(auth.current_identity().modules), "available": list(services.names())}


@bp.put("/api/v1/admin/modules")
@declare("Enable exactly the given modules", tag="admin", body=ModulesSchema,
         responses={200: ModulesOutSchema, 422: PROBLEM})
@admin_required
def put_modules():
    """Enable exactly the given modules."""
    data = load(ModulesSchema(), request)
    ident = auth.current_identity()
    session = auth.gateway_session()
    tenant = idm.set_modules(session, ident.tenant_id, data["modules"])
    session.commit()
    auth.invalidate_tenant(ident.tenant_id)  # this process sees the change at once
    return {"modules": list(tenant.modules)}


# ---------------------------------------------------------------- tenant admin: users

@bp.get("/api/v1/admin/users")
@declare("List users", tag="admin", responses={200: items_of(UserSchema)})
@admin_required
def list_users():
    """The tenant's users, inactive ones included."""
    return {"items": [user_out(u) for u in idm.list_users(auth.gateway_session())]}


@bp.post("/api/v1/admin/users")
@declare("Create a user", tag="admin", body=UserCreateSchema, params=[IDEMPOTENCY], headers=LOCATION,
         responses={201: UserSchema, 409: PROBLEM, 422: PROBLEM})
@admin_required
@idempotent
def create_user():
    """Create a user with a password and roles. A retry of an ``Idempotency-Key`` whose first
    attempt created the user but lost its answer gets that user, not a 409 on its own email."""
    data = load(UserCreateSchema(), request)
    session = auth.gateway_session()
    user_id = resource_id("user")
    if user_id is not None and (made := session.get(User, user_id)) is not None:
        user_sync().push(made.tenant_id, [user_row(made)])  # the lost attempt may not have pushed it
        return replayed(user_out(made), 201, {"Location": f"/api/v1/admin/users/{made.id}"})
    user = idm.create_user(session, data["email"], data["password"], name=data["name"], roles=data["roles"],
                           user_id=user_id)
    session.commit()
    user_sync().push(user.tenant_id, [user_row(user)])  # a valid owner in every service from now on
    return user_out(user), 201, {"Location": f"/api/v1/admin/users/{user.id}"}


@bp.get("/api/v1/admin/users/<user_id>")
@declare("One user", tag="admin", responses={200: UserSchema, 404: PROBLEM})
@admin_required
def get_user(user_id: str):
    """One user of the tenant."""
    return user_out(idm.get_user(auth.gateway_session(), user_id))


@bp.patch("/api/v1/admin/users/<user_id>")
@declare("Change a user", tag="admin", body=UserUpdateSchema,
         responses={200: UserSchema, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM})
@admin_required
def update_user(user_id: str):
    """Change email, name, password, roles or active flag."""
    data = load(UserUpdateSchema(), request)
    session = auth.gateway_session()
    user = idm.update_user(session, user_id, **data)
    session.commit()
    auth.invalidate_user(user_id)
    if "active" in data:
        user_sync().push(user.tenant_id, [user_row(user)])
    return user_out(user)


@bp.delete("/api/v1/admin/users/<user_id>")
@declare("Deactivate a user (records keep their owner)", tag="admin", responses={204: None, 404: PROBLEM, 409: PROBLEM})
@admin_required
def delete_user(user_id: str):
    """Deactivate the user: records keep their owner, the login stops working."""
    session = auth.gateway_session()
    user = idm.deactivate_user(session, user_id)
    session.commit()
    auth.invalidate_user(user_id)
    user_sync().push(user.tenant_id, [user_row(user)])  # still a valid owner: records keep it
    return "", 204


# ---------------------------------------------------------------- tenant admin: API keys

@bp.get("/api/v1/admin/api-keys")
@declare("List API keys (prefixes only)", tag="admin", responses={200: items_of(ApiKeySchema)})
@admin_required
def list_api_keys():
    """The tenant's API keys (prefixes only)."""
    return {"items": [api_key_out(k) for k in idm.list_api_keys(auth.gateway_session())]}


@bp.post("/api/v1/admin/api-keys")
@declare("Create an API key (the secret is shown once)", tag="admin", body=ApiKeyCreateSchema, params=[IDEMPOTENCY],
         headers=LOCATION, responses={201: ApiKeyCreatedSchema, 409: PROBLEM, 422: PROBLEM})
@admin_required
@idempotent
def create_api_key():
    """Create a key; the response carries its secret, shown this once only. A repeat with the same
    ``Idempotency-Key`` answers the same key with its secret blanked (it is never stored in clear)."""
    data = load(ApiKeyCreateSchema(), request)
    ident = auth.current_identity()
    session = auth.gateway_session()
    key_id = resource_id("api_key")
    if key_id is not None and (made := session.get(ApiKey, key_id)) is not None:
        # An earlier attempt of this key committed the key and lost its answer: say so, once only.
        return replayed({**api_key_out(made), "secret": None, "redacted": {"secret": REDACTED_NOTE}}, 201,
                        {"Location": f"/api/v1/admin/api-keys/{made.id}"})
    key, secret = idm.create_api_key(session, data["name"], data["roles"], created_by=ident.user_id, key_id=key_id)
    session.commit()
    return {**api_key_out(key), "secret": secret}, 201, {"Location": f"/api/v1/admin/api-keys/{key.id}"}


@bp.delete("/api/v1/admin/api-keys/<key_id>")
@declare("Revoke an API key", tag="admin", responses={204: None, 404: PROBLEM})
@admin_required
def revoke_api_key(key_id: str):
    """Revoke a key; requests using it are refused from now on."""
    session = auth.gateway_session()
    idm.revoke_api_key(session, key_id)
    session.commit()
    auth.invalidate_api_key(key_id)
    return "", 204


# ---------------------------------------------------------------- tenant admin: permissions

@bp.get("/api/v1/admin/roles")
@declare("Roles and their object permissions per module", tag="admin", responses={200: {"type": "object"}})
@admin_required
def roles():
    """The roles and their default object permissions per module."""
    return permissions.matrix()


@bp.get("/api/v1/admin/field-permissions")
@declare("Per-field permissions by role", tag="admin", params=[query("object", "only this object's rules")],
         responses={200: FieldPermissionListSchema})
@admin_required
def get_field_permissions():
    """The tenant's per-field overrides (``?object=`` narrows to one object)."""
    rows = idm.list_field_permissions(auth.gateway_session(), request.args.get("object") or None)
    return {"rules": [field_permission_out(r) for r in rows]}


@bp.put("/api/v1/admin/field-permissions")
@declare("Replace the per-field permissions", tag="admin", body=FieldPermissionsSchema,
         responses={200: FieldPermissionListSchema, 422: PROBLEM})
@admin_required
def put_field_permissions():
    """Replace the tenant's per-field overrides with ``{"rules": [{object, field, role, access}]}``."""
    data = load(FieldPermissionsSchema(), request)
    ident = auth.current_identity()
    session = auth.gateway_session()
    rows = idm.replace_field_permissions(session, data["rules"])
    session.commit()
    auth.invalidate_tenant(ident.tenant_id)
    return {"rules": [field_permission_out(r) for r in rows]}
