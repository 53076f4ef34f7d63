"""Who is calling: authentication, authorisation decorators, per-request sessions.

``authenticate`` accepts ``Authorization: Bearer <jwt>``, ``Authorization: ApiKey <secret>`` or
``X-API-Key: <secret>``. A bearer token's signature is verified once: its claims are then kept
for a minute under the exact token string (a forged or altered token is another string, so it is
verified afresh), and its expiry is checked on every request. Whatever the token says, the
tenant's *current* modules and plugins and the user's *current* roles and active flag come from
the gateway database, through a short in-process cache (2 s by default; concurrent misses of an
entry share one query), so an admin's change applies almost at once without a query per request.
Rate limits are applied here too, per tenant and per API key.
"""
from __future__ import annotations

import contextlib
import hmac
import math
import time
from dataclasses import dataclass
from functools import wraps
from typing import Any, Callable, Iterator

from flask import Flask, Request, g, has_app_context
from flask.globals import _cv_app, _cv_request, _no_app_msg, _no_req_msg
from sqlalchemy import select
from sqlalchemy.orm import Session

from mosaic import permissions
from mosaic.config import Settings, ensure_secret
from mosaic.context import RequestContext
from mosaic.db import get_engine, system_session, tenant_session, utcnow
from mosaic.errors import Forbidden, NotFound, RateLimited, Unauthorized
from mosaic_gateway import identity as idm
from mosaic_gateway.cache import MISSING, TTLCache
from mosaic_gateway.models import FieldPermission, Tenant, User, create_tables
from mosaic_gateway.ratelimit import RateLimiter, make_limiter
from mosaic_gateway.tokens import decode_access_token, sha256_hex

AUTH_CACHE_TTL = 2.0
#: seconds the claims of a verified access token are kept (its expiry is checked on every use)
TOKEN_CACHE_TTL = 60.0
_wall_clock = time.time  # what a cached token's ``exp`` is compared with (tests move it)


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: a user (JWT) or an API key, of one tenant."""

    tenant_id: str
    tenant_slug: str
    user_id: str | None = None
    api_key_id: str | None = None
    roles: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()

    def has_role(self, *roles: str) -> bool:
        """Whether the caller holds any of ``roles``."""
        return any(r in self.roles for r in roles)

    @property
    def principal(self) -> str:
        """``user:<id>`` or ``apikey:<id>``: who, for audit and idempotency scoping."""
        return f"user:{self.user_id}" if self.user_id else f"apikey:{self.api_key_id}"


# ---------------------------------------------------------------- app wiring & sessions

def init_app(app: Flask, settings: Settings, *, create_schema: bool = False,
             cache_ttl: float = AUTH_CACHE_TTL) -> None:
    """Store settings, the gateway engine, the rate limiter and the auth cache in
    ``app.extensions["mosaic"]``; close per-request sessions at teardown. The tables come from
    the gateway's migrations (``mosaic migrate``); ``create_schema`` creates them directly instead
    (tools and tests that skip alembic)."""
    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = ensure_secret(settings)
    engine = get_engine(settings, "gateway")
    if create_schema:
        create_tables(engine)
    app.extensions.setdefault("mosaic", {}).update(
        settings=settings, engine=engine, limiter=make_limiter(settings), auth_cache=TTLCache(cache_ttl),
        token_cache=TTLCache(TOKEN_CACHE_TTL))
    app.teardown_appcontext(close_request_sessions)


def _ext() -> dict[str, Any]:
    try:
        return _request_app().extensions["mosaic"]
    except KeyError:
        raise RuntimeError("auth.init_app(app, settings) was not called") from None


def settings() -> Settings:
    """The settings ``init_app`` stored (with the signing key resolved)."""
    return _ext()["settings"]


def limiter() -> RateLimiter:
    """This app's rate limiter (in process, or shared in Redis: ``ratelimit.make_limiter``)."""
    return _ext()["limiter"]


# Flask's ``current_app``, ``g`` and ``request`` are werkzeug proxies: an attribute read through
# one is first looked for on the proxy's own class, which fails with a formatted AttributeError,
# then forwarded in three more calls (~1 µs; a create made ~30). The request's own objects are read
# from the context variables the proxies read, once per use.

def _request_app() -> Flask:
    """The current app itself (what ``current_app`` stands for)."""
    ctx = _cv_app.get(None)
    if ctx is None:
        raise RuntimeError(_no_app_msg)
    return ctx.app


def _request_g() -> Any:
    """The current ``g`` itself."""
    ctx = _cv_app.get(None)
    if ctx is None:
        raise RuntimeError(_no_app_msg)
    return ctx.g


def _request() -> Request:
    """The current request itself (what ``request`` stands for)."""
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(_no_req_msg)
    return ctx.request


def _g_value(name: str) -> Any:
    """``g.get(name)``: Flask's ``g`` keeps its attributes in its ``__dict__``, and a missing one read
    as an attribute costs a formatted AttributeError and the ``__getattr__`` that raises another."""
    return _request_g().__dict__.get(name)


def _sessions() -> dict[str, Session]:
    store = _request_g()
    sessions = store.__dict__.get("_mosaic_sessions")
    if sessions is None:
        sessions = store._mosaic_sessions = {}
    return sessions


def gateway_session() -> Session:
    """This request's session of the gateway database, scoped to the caller's tenant.

    On SQLite the gateway has a single connection: a view should use this *or*
    :func:`gateway_system_session`, not hold both open at once."""
    ident = current_identity()
    sessions = _sessions()
    if "tenant" not in sessions:
        sessions["tenant"] = tenant_session(_ext()["engine"], ident.tenant_id)
    return sessions["tenant"]


def gateway_system_session() -> Session:
    """This request's unscoped session (login, refresh, operator API: no tenant yet)."""
    sessions = _sessions()
    if "system" not in sessions:
        sessions["system"] = system_session(_ext()["engine"])
    return sessions["system"]


def close_request_sessions(_exc: BaseException | None = None) -> None:
    """Close (rolling back anything uncommitted) this request's sessions; runs at teardown."""
    store = _request_g()
    sessions = store.__dict__.get("_mosaic_sessions")
    if sessions:
        for session in sessions.values():
            session.close()
    store._mosaic_sessions = {}


@contextlib.contextmanager
def _read_session() -> Iterator[tuple[Session, bool]]:
    """A session for auth look-ups: the request's open one if any (on SQLite a second connection
    would wait for the first forever), else a short system session. Queries filter by tenant
    explicitly, so either kind answers the same. Yields (session, owned)."""
    open_sessions = list(_sessions().values())
    if open_sessions:
        yield open_sessions[0], False
        return
    with system_session(_ext()["engine"]) as session:
        yield session, True


# ---------------------------------------------------------------- cached state

def _caller_state(key: tuple, tenant_id: str, user_id: str | None) -> Any:
    """``key``'s entry of the auth cache: the caller's tenant, its field permissions, or the
    caller's user. A miss of any reads all three in one session and keeps them (one load for
    concurrent misses of a key, unless this request holds a session: see
    :meth:`TTLCache.get_or_load`), so they expire together and their refresh every few seconds
    opens one session, not three."""
    cache: TTLCache = _ext()["auth_cache"]
    value = cache.get(key, MISSING)  # the usual case, a hit, looks at no session
    if value is not MISSING:
        return value
    loads = {("tenant", tenant_id): lambda session: _load_tenant(session, tenant_id),
             ("fieldperms", tenant_id): lambda session: _load_field_rows(session, tenant_id)}
    if user_id is not None:
        loads[("user", user_id)] = lambda session: _load_user(session, tenant_id, user_id)

    def run():
        with _read_session() as (session, _owned):
            found = {k: load(session) for k, load in loads.items()}
        for k, v in found.items():
            if k != key:  # ``key`` itself is kept by get_or_load
                cache.set(k, v)
        return found[key]
    return cache.get_or_load(key, run, shared=not _sessions())


def _load_tenant(session: Session, tenant_id: str) -> dict | None:
    t = session.get(Tenant, tenant_id)
    return None if t is None else {"slug": t.slug, "active": t.active, "modules": tuple(t.modules or ()),
                                   "plugins": tuple(t.plugins or ())}


def _load_user(session: Session, tenant_id: str, user_id: str) -> dict | None:
    u = session.scalar(select(User).where(User.id == user_id, User.tenant_id == tenant_id))
    return None if u is None else {"active": u.active, "roles": tuple(u.roles or ())}


def _load_field_rows(session: Session, tenant_id: str) -> list[dict]:
    return [{"object": r.object, "field": r.field, "role": r.role, "access": r.access}
            for r in session.scalars(select(FieldPermission).where(FieldPermission.tenant_id == tenant_id))]


def _api_key_state(secret: str) -> dict:
    cache: TTLCache = _ext()["auth_cache"]
    digest = sha256_hex(secret)
    state = cache.get(("apikey", digest))
    if state is None:
        with _read_session() as (session, owned):
            key = idm.verify_api_key(session, secret)
            state = {"id": key.id, "tenant_id": key.tenant_id, "roles": tuple(key.roles or ())}
            if owned:  # last_used_at is therefore exact to within the cache's lifetime
                key.last_used_at = utcnow()
                session.commit()
        # Only successes are cached, so a revocation takes effect within the cache's ttl.
        cache.set(("apikey", digest), state)
        cache.set(("apikey-id", state["id"]), digest)
    return state


def invalidate_tenant(tenant_id: str) -> None:
    """Drop the cached modules/plugins/active flag and field permissions of a tenant."""
    cache: TTLCache = _ext()["auth_cache"]
    cache.invalidate(("tenant", tenant_id))
    cache.invalidate(("fieldperms", tenant_id))
    if has_app_context():  # this request's own answers were worked out from them
        g.pop("mosaic_field_policy", None)


def invalidate_user(user_id: str) -> None:
    """Drop a user's cached roles and active flag (after an admin changed them)."""
    _ext()["auth_cache"].invalidate(("user", user_id))


def invalidate_api_key(key_id: str) -> None:
    """Drop a key's cached verification (after a revocation)."""
    cache: TTLCache = _ext()["auth_cache"]
    digest = cache.get(("apikey-id", key_id))
    if digest:
        cache.invalidate(("apikey", digest))


# ---------------------------------------------------------------- authentication

def authenticate(req=None) -> Identity:
    """The caller of ``req`` (default: the current request), checked and rate-limited.

    Raises Unauthorized (no/bad credentials, inactive tenant or user) or RateLimited."""
    store = _request_g()
    ident = store.__dict__.get("mosaic_identity")
    if ident is not None:  # a view asks several times (the guards, the RPC context)
        return ident
    req = req if req is not None else _request()
    scheme, _, credential = req.headers.get("Authorization", "").strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential:
        ident = _from_jwt(credential)
    elif scheme.lower() == "apikey" and credential:
        ident = _from_api_key(credential)
    elif req.headers.get("X-API-Key"):
        ident = _from_api_key(req.headers["X-API-Key"].strip())
    elif scheme:
        raise Unauthorized("unsupported Authorization scheme; use Bearer or ApiKey")
    else:
        raise Unauthorized("authentication required")
    _rate_limit(ident)
    store.mosaic_identity = ident
    return ident


def _active_tenant(tenant_id: str, user_id: str | None = None) -> dict:
    tenant = _caller_state(("tenant", tenant_id), tenant_id, user_id)
    if tenant is None or not tenant["active"]:
        raise Unauthorized("tenant inactive or unknown")
    return tenant


def _verified_claims(token: str) -> dict:
    """The claims of a valid access token: verified once (HMAC, claim checks: PyJWT costs a
    request ~0.2 ms), then taken from the token cache while unexpired (PyJWT's rule: expired
    once ``exp`` <= now)."""
    cache: TTLCache = _ext()["token_cache"]
    claims = cache.get(token)
    if claims is not None:
        if claims["exp"] <= _wall_clock():
            cache.invalidate(token)
            raise Unauthorized("access token expired")
        return claims
    claims = decode_access_token(settings(), token)  # raises for a forged or expired token
    cache.set(token, claims)
    return claims


def _from_jwt(token: str) -> Identity:
    claims = _verified_claims(token)
    tenant = _active_tenant(claims["tid"], claims["sub"])
    user = _caller_state(("user", claims["sub"]), claims["tid"], claims["sub"])
    if user is None or not user["active"]:
        raise Unauthorized("user inactive or unknown")
    # Roles come from the database, not the token: a demotion applies before the token expires.
    return Identity(tenant_id=claims["tid"], tenant_slug=tenant["slug"], user_id=claims["sub"],
                    roles=user["roles"], modules=tenant["modules"], plugins=tenant["plugins"])


def _from_api_key(secret: str) -> Identity:
    key = _api_key_state(secret)
    tenant = _active_tenant(key["tenant_id"])
    return Identity(tenant_id=key["tenant_id"], tenant_slug=tenant["slug"], api_key_id=key["id"],
                    roles=key["roles"], modules=tenant["modules"], plugins=tenant["plugins"])


def _rate_limit(ident: Identity) -> None:
    conf, buckets = settings(), limiter()
    checks = [(f"tenant:{ident.tenant_id}", conf.rate_limit, "tenant")]
    if ident.api_key_id:
        checks.append((f"apikey:{ident.api_key_id}", conf.key_rate_limit, "API key"))
    for key, limit, what in checks:
        allowed, retry_after = buckets.hit(key, limit)
        if not allowed:
            raise RateLimited(f"{what} rate limit of {limit} requests per minute exceeded",
                              retry_after=max(1, math.ceil(retry_after)))


def current_identity() -> Identity:
    """The identity :func:`authenticate` established for this request; Unauthorized if none."""
    ident = _g_value("mosaic_identity")
    if ident is None:
        raise Unauthorized("authentication required")
    return ident


def request_context() -> RequestContext:
    """The RPC context of this request's authenticated caller, built once per identity (a view
    that re-reads the caller, after enabling a plugin, gets a new one)."""
    ident = authenticate()
    store = _request_g()
    built = store.__dict__.get("mosaic_context")
    if built is None or built[0] is not ident:
        built = store.mosaic_context = (ident, to_context(ident))
    return built[1]


def to_context(ident: Identity, traceparent: str | None = None) -> RequestContext:
    """The RPC context a service receives for this caller."""
    return RequestContext(tenant_id=ident.tenant_id, user_id=ident.user_id, roles=tuple(ident.roles),
                          modules=tuple(ident.modules), plugins=tuple(ident.plugins),
                          traceparent=traceparent, api_key_id=ident.api_key_id)


def _field_rows(ident: Identity) -> list[dict]:
    """The tenant's FieldPermission rows (cached per tenant like the rest of the auth state)."""
    return _caller_state(("fieldperms", ident.tenant_id), ident.tenant_id, ident.user_id)


def field_policy(ident: Identity, object: str) -> tuple[set[str], set[str]]:
    """``(hidden, readonly)`` field names of ``object`` for this caller, from the tenant's
    FieldPermission rows; worked out once per request, caller and object (a create asks for
    it twice: to check the body, to filter the answer), again after :func:`invalidate_tenant`."""
    store = _request_g()
    memo = store.__dict__.get("mosaic_field_policy")
    if memo is None or memo[0] is not ident:
        memo = store.mosaic_field_policy = (ident, {})
    found = memo[1].get(object)
    if found is None:
        rows = _field_rows(ident)
        found = memo[1][object] = (permissions.hidden_fields(rows, ident.roles, object),
                                   permissions.readonly_fields(rows, ident.roles, object))
    return set(found[0]), set(found[1])


def hidden_fields_by_object(ident: Identity) -> dict[str, set[str]]:
    """``{object: hidden field names}`` for this caller, only objects with at least one hidden
    field (``{}`` for most callers, and always for admins)."""
    if permissions.SUPERUSER_ROLES.intersection(ident.roles):
        return {}
    rows = _field_rows(ident)
    out = {}
    for object in {r["object"] for r in rows if r["access"] == "none"}:
        hidden = permissions.hidden_fields(rows, ident.roles, object)
        if hidden:
            out[object] = hidden
    return out


# ---------------------------------------------------------------- decorators

def login_required(view: Callable) -> Callable:
    """The view needs an authenticated caller (JWT or API key)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        authenticate()
        return view(*args, **kwargs)
    return wrapper


def roles_required(*roles: str) -> Callable[[Callable], Callable]:
    """The view needs a caller holding one of ``roles``; ``admin`` passes every role check."""
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            ident = authenticate()
            if not ident.has_role(*roles, *permissions.SUPERUSER_ROLES):
                raise Forbidden(f"needs one of the roles: {', '.join(roles)}")
            return view(*args, **kwargs)
        return wrapper
    return decorator


def operator_required(view: Callable) -> Callable:
    """The view is the platform operator's: header ``X-Operator-Key`` must equal
    ``MOSAIC_OPERATOR_KEY``. With no operator key configured the operator API does not exist."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        expected = settings().operator_key
        if not expected:
            raise NotFound("the operator API is disabled")
        given = _request().headers.get("X-Operator-Key", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("a valid X-Operator-Key is required")
        g.mosaic_operator = True
        return view(*args, **kwargs)
    return wrapper
