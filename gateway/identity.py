"""Identity domain: tenants, users, passwords, API keys, field overrides (tokens: ``tokens``).

Plain functions taking a SQLAlchemy session, unit-testable without Flask. They flush but leave the
commit to the caller (refresh tokens, in ``mosaic_gateway.tokens``, are the one exception). Sessions:

- a *tenant session* (``mosaic.db.tenant_session``) for everything a tenant admin does, so a user
  id of another tenant is simply not found;
- a *system session* where the tenant is not known yet: creating a tenant, logging in by tenant
  slug, looking up an API key or a refresh token by its secret.
"""
from __future__ import annotations

import hmac
import re
import secrets
import string
from functools import lru_cache
from typing import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mosaic import services
from mosaic.db import new_id, utcnow
from mosaic.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from mosaic.permissions import FIELD_ACCESS, ROLES
from mosaic_gateway.models import ApiKey, FieldPermission, Tenant, User
from mosaic_gateway.schemas import MAX_PASSWORD, MIN_PASSWORD, SLUG_RE
from mosaic_gateway.tokens import revoke_user_tokens, sha256_hex

#: argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile). Tests may swap in a
#: cheaper argon2id hasher; never anything but argon2id.
HASHER = PasswordHasher()
INVALID_CREDENTIALS = "invalid credentials"
KEY_PREFIX_LEN = 8
_KEY_ALPHABET = string.ascii_lowercase + string.digits
_SLUG = re.compile(SLUG_RE)


# ---------------------------------------------------------------- passwords

def check_password_policy(password: str) -> None:
    """Refuse passwords shorter than 10 characters (and absurdly long ones) with a field error."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationFailed("password does not meet the policy", errors={
            "password": [f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"]})


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (policy checked first)."""
    check_password_policy(password)
    return HASHER.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(16))


def _verify_password(stored: str | None, password: str) -> bool:
    """Verify against ``stored``, or against a dummy hash when there is no user, so an unknown
    email costs the same time as a wrong password and does not reveal which emails exist."""
    try:
        return HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively: store and look them up lowercased."""
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        raise ValidationFailed("invalid email", errors={"email": ["not a valid email address"]})
    return email


def _check_roles(roles: Iterable[str]) -> list[str]:
    roles = list(dict.fromkeys(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValidationFailed("invalid roles", errors={
            "roles": [f"unknown role {r!r}" for r in unknown] or ["at least one role is needed"]})
    return roles


def _flush_or_conflict(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError as err:
        # A concurrent writer won the unique constraint; the pre-checks cannot close that race.
        session.rollback()
        raise Conflict(message) from err


# ---------------------------------------------------------------- tenants

def _check_modules(modules: Iterable[str]) -> list[str]:
    modules = list(dict.fromkeys(modules))
    installed = services.names()
    unknown = [m for m in modules if m not in installed]
    if unknown:
        raise ValidationFailed("unknown modules", errors={
            "modules": [f"unknown module {m!r}; one of {', '.join(installed)}" for m in unknown]})
    return modules


def create_tenant(session: Session, slug: str, name: str, admin_email: str, admin_password: str,
                  modules: Iterable[str] | None = None, admin_name: str = "") -> tuple[Tenant, User]:
    """Create a tenant and its first admin user (system session); ``modules`` default to every
    installed service."""
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise ValidationFailed("invalid slug", errors={"slug": ["lowercase letters, digits and '-'"]})
    modules = _check_modules(services.names() if modules is None else modules)
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"tenant {slug!r} already exists")
    tenant = Tenant(id=new_id(), slug=slug, name=name, modules=modules, plugins=[], active=True)
    session.add(tenant)
    _flush_or_conflict(session, f"tenant {slug!r} already exists")
    admin = create_user(session, admin_email, admin_password, name=admin_name, roles=("admin",),
                        tenant_id=tenant.id)
    return tenant, admin


def get_tenant(session: Session, tenant_id: str) -> Tenant:
    """The tenant, or NotFound."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("no such tenant")
    return tenant


def list_tenants(session: Session) -> list[Tenant]:
    """Every tenant, oldest first (operator API)."""
    return list(session.scalars(select(Tenant).order_by(Tenant.id)))


def set_modules(session: Session, tenant_id: str, modules: Iterable[str]) -> Tenant:
    """Enable exactly ``modules`` (installed services, ``mosaic.services``) for the tenant."""
    tenant = get_tenant(session, tenant_id)
    tenant.modules = _check_modules(modules)
    session.flush()
    return tenant


def set_plugins(session: Session, tenant_id: str, plugins: Iterable[str]) -> Tenant:
    """Enable exactly ``plugins`` for the tenant (the caller has checked their dependencies)."""
    tenant = get_tenant(session, tenant_id)
    tenant.plugins = sorted(set(plugins))
    session.flush()
    return tenant


def update_tenant(session: Session, tenant_id: str, *, name: str | None = None,
                  active: bool | None = None, modules: Iterable[str] | None = None) -> Tenant:
    """Rename, (de)activate or change the modules of a tenant (operator API)."""
    tenant = get_tenant(session, tenant_id)
    if name is not None:
        tenant.name = name
    if active is not None:
        tenant.active = bool(active)
    if modules is not None:
        tenant.modules = _check_modules(modules)
    session.flush()
    return tenant


# ---------------------------------------------------------------- users

def _tenant_of(session: Session, tenant_id: str | None) -> str:
    tenant_id = tenant_id or session.info.get("tenant_id")
    if not tenant_id:
        raise ValueError("a tenant id is needed (pass one, or use a tenant session)")
    return tenant_id


def create_user(session: Session, email: str, password: str, name: str = "",
                roles: Iterable[str] = ("readonly",), tenant_id: str | None = None,
                user_id: str | None = None) -> User:
    """Create a user of the session's tenant (or ``tenant_id`` with a system session); ``user_id``
    names it (an idempotent request's stable id), else a new id."""
    tenant_id = _tenant_of(session, tenant_id)
    email = normalize_email(email)
    roles = _check_roles(roles)
    password_hash = hash_password(password)
    exists = select(User.id).where(User.tenant_id == tenant_id, User.email == email)
    if session.scalar(exists) is not None:
        raise Conflict("a user with this email already exists", errors={"email": ["already in use"]})
    user = User(id=user_id or new_id(), tenant_id=tenant_id, email=email, name=name or "",
                password_hash=password_hash, roles=roles, active=True)
    session.add(user)
    _flush_or_conflict(session, "a user with this email already exists")
    return user


def get_user(session: Session, user_id: str) -> User:
    """A user of the session's tenant, or NotFound (also for ids of other tenants)."""
    user = session.scalar(select(User).where(User.id == user_id))
    if user is None:
        raise NotFound("no such user")
    return user


def list_users(session: Session, include_inactive: bool = True) -> list[User]:
    """Users of the session's tenant, oldest first."""
    stmt = select(User).order_by(User.id)
    if not include_inactive:
        stmt = stmt.where(User.active.is_(True))
    return list(session.scalars(stmt))


def _guard_last_admin(session: Session, user: User, roles: list[str] | None, active: bool | None) -> None:
    """A tenant must keep one active admin, or nobody could administer it again."""
    loses_admin = (roles is not None and "admin" not in roles) or active is False
    if not (user.active and "admin" in (user.roles or []) and loses_admin):
        return
    others = [u for u in list_users(session, include_inactive=False)
              if u.id != user.id and "admin" in (u.roles or [])]
    if not others:
        raise Conflict("the tenant's last active admin cannot lose the admin role or be deactivated")


def update_user(session: Session, user_id: str, *, email: str | None = None, name: str | None = None,
                password: str | None = None, roles: Iterable[str] | None = None,
                active: bool | None = None) -> User:
    """Change a user's profile, password, roles or active flag (tenant session)."""
    user = get_user(session, user_id)
    roles = _check_roles(roles) if roles is not None else None
    _guard_last_admin(session, user, roles, active)
    if email is not None:
        email = normalize_email(email)
        if email != user.email:
            taken = select(User.id).where(User.tenant_id == user.tenant_id, User.email == email)
            if session.scalar(taken) is not None:
                raise Conflict("a user with this email already exists", errors={"email": ["already in use"]})
            user.email = email
    if name is not None:
        user.name = name
    if password is not None:
        user.password_hash = hash_password(password)
        revoke_user_tokens(session, user.id)  # a password change ends every other session
    if roles is not None:
        user.roles = roles
    if active is not None:
        user.active = bool(active)
        if not active:
            revoke_user_tokens(session, user.id)
    _flush_or_conflict(session, "a user with this email already exists")
    return user


def deactivate_user(session: Session, user_id: str) -> User:
    """Deactivate a user (kept for audit trails and ownership) and revoke its refresh tokens."""
    return update_user(session, user_id, active=False)


def verify_login(session: Session, tenant_slug: str, email: str, password: str) -> User:
    """The active user these credentials name, with ``last_login_at`` set; Unauthorized
    "invalid credentials" for an unknown tenant or user, a wrong password or anything inactive."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == (tenant_slug or "").strip().lower()))
    user = None
    if tenant is not None:
        user = session.scalar(select(User).where(User.tenant_id == tenant.id,
                                                 User.email == (email or "").strip().lower()))
    ok = _verify_password(user.password_hash if user is not None else None, password or "")
    if not ok or user is None or not user.active or not tenant.active:
        raise Unauthorized(INVALID_CREDENTIALS)
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)  # parameters were raised since it was hashed
    user.last_login_at = utcnow()
    session.flush()
    return user


# ---------------------------------------------------------------- API keys

def create_api_key(session: Session, name: str, roles: Iterable[str], created_by: str | None = None,
                   tenant_id: str | None = None, key_id: str | None = None) -> tuple[ApiKey, str]:
    """Create a key; returns it and its secret ``mk_<prefix>_<random>``, shown this once only.
    ``key_id`` names it (an idempotent request's stable id), else a new id."""
    tenant_id = _tenant_of(session, tenant_id)
    roles = _check_roles(roles)
    while True:
        prefix = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_PREFIX_LEN))
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            break  # 36**8 prefixes: a clash is rare, but prefixes must be unique to look keys up
    secret = f"mk_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(id=key_id or new_id(), tenant_id=tenant_id, name=name, prefix=prefix, key_hash=sha256_hex(secret),
                 roles=roles, created_by=created_by)
    session.add(key)
    _flush_or_conflict(session, "API key prefix clash, try again")
    return key, secret


def verify_api_key(session: Session, secret: str) -> ApiKey:
    """The live key ``secret`` belongs to (system session: the tenant is not known yet)."""
    parts = (secret or "").split("_", 2)
    if len(parts) != 3 or parts[0] != "mk" or len(parts[1]) != KEY_PREFIX_LEN:
        raise Unauthorized("invalid API key")
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    # Compare even when no key matched so timing does not reveal valid prefixes.
    expected = key.key_hash if key is not None else "0" * 64
    if not hmac.compare_digest(expected, sha256_hex(secret)) or key is None or key.revoked_at is not None:
        raise Unauthorized("invalid API key")
    return key


def list_api_keys(session: Session) -> list[ApiKey]:
    """Keys of the session's tenant, oldest first (secrets are never stored, so never shown)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_api_key(session: Session, key_id: str) -> ApiKey:
    """Revoke a key of the session's tenant; NotFound for ids of other tenants."""
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id))
    if key is None:
        raise NotFound("no such API key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key


# ---------------------------------------------------------------- field permissions

def list_field_permissions(session: Session, object: str | None = None) -> list[FieldPermission]:
    """The tenant's per-field overrides, optionally of one object."""
    stmt = select(FieldPermission).order_by(FieldPermission.object, FieldPermission.field,
                                            FieldPermission.role)
    if object:
        stmt = stmt.where(FieldPermission.object == object)
    return list(session.scalars(stmt))


def replace_field_permissions(session: Session, rules: Iterable[dict]) -> list[FieldPermission]:
    """Make the tenant's overrides exactly ``rules`` ({object, field, role, access})."""
    rules = list(rules)
    for rule in rules:
        if rule.get("access") not in FIELD_ACCESS or rule.get("role") not in ROLES:
            raise ValidationFailed("invalid field permission", errors={
                "rules": [f"access must be one of {FIELD_ACCESS} and role one of {ROLES}"]})
    for row in list_field_permissions(session):
        session.delete(row)
    session.flush()  # the deletes must reach the database before inserts reuse their unique keys
    for rule in rules:
        session.add(FieldPermission(id=new_id(), object=rule["object"], field=rule["field"],
                                    role=rule["role"], access=rule["access"]))
    _flush_or_conflict(session, "field permissions changed concurrently")
    return list_field_permissions(session)
