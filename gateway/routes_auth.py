"""Login, token refresh, logout and "who am I"."""
from __future__ import annotations

import math

from flask import Blueprint, request

from mosaic.errors import RateLimited
from mosaic_gateway import auth, identity as idm, tokens
from mosaic_gateway.contract import PROBLEM, declare
from mosaic_gateway.responses import MeSchema, TokenPairSchema
from mosaic_gateway.models import Tenant, User
from mosaic_gateway.schemas import LoginSchema, RefreshSchema, load

bp = Blueprint("mosaic_auth", __name__)

#: failed or not, login attempts per (tenant, email) per minute: slows password guessing down.
LOGIN_ATTEMPTS_PER_MINUTE = 10


def _token_pair(user: User, refresh_secret: str) -> dict:
    conf = auth.settings()
    return {"access_token": tokens.issue_access_token(conf, user), "refresh_token": refresh_secret,
            "token_type": "Bearer", "expires_in": conf.access_ttl}


@bp.post("/api/v1/auth/login")
@declare("Log in; returns an access and a refresh token", tag="auth", security="public", body=LoginSchema,
         responses={200: TokenPairSchema, 401: PROBLEM, 422: PROBLEM, 429: PROBLEM, 503: PROBLEM})
def login():
    """Trade ``{tenant, email, password}`` for an access and a refresh token."""
    data = load(LoginSchema(), request)
    throttle_key = f"login:{data['tenant'].strip().lower()}:{data['email'].strip().lower()}"
    allowed, retry_after = auth.limiter().hit(throttle_key, LOGIN_ATTEMPTS_PER_MINUTE)
    if not allowed:
        raise RateLimited("too many login attempts", retry_after=max(1, math.ceil(retry_after)))
    session = auth.gateway_system_session()
    user = idm.verify_login(session, data["tenant"], data["email"], data["password"])
    refresh = tokens.issue_refresh_token(session, user, auth.settings().refresh_ttl)
    session.commit()
    return _token_pair(user, refresh)


@bp.post("/api/v1/auth/refresh")
@declare("Trade a refresh token for a new pair", tag="auth", security="public", body=RefreshSchema,
         responses={200: TokenPairSchema, 401: PROBLEM, 422: PROBLEM})
def refresh():
    """Trade a refresh token for a new pair; the presented token is revoked (rotation)."""
    data = load(RefreshSchema(), request)
    session = auth.gateway_system_session()
    user, _tenant, new_refresh = tokens.rotate_refresh_token(session, data["refresh_token"],
                                                             auth.settings().refresh_ttl)
    session.commit()
    return _token_pair(user, new_refresh)


@bp.post("/api/v1/auth/logout")
@declare("Revoke a refresh token", tag="auth", security="public", body=RefreshSchema,
         responses={204: None, 422: PROBLEM})
def logout():
    """Revoke the given refresh token. Answers 204 whether or not it was live, so the call tells
    nothing about tokens it does not own."""
    data = load(RefreshSchema(), request)
    session = auth.gateway_system_session()
    tokens.revoke_refresh_token(session, data["refresh_token"])
    session.commit()
    return "", 204


@bp.get("/api/v1/me")
@declare("The caller: tenant, user or API key, roles, modules, plugins", tag="auth", responses={200: MeSchema})
@auth.login_required
def me():
    """The caller: tenant, user or API key, roles, enabled modules and plugins."""
    ident = auth.current_identity()
    body = {"tenant": {"id": ident.tenant_id, "slug": ident.tenant_slug},
            "user": None, "api_key_id": ident.api_key_id, "roles": list(ident.roles),
            "modules": list(ident.modules), "plugins": list(ident.plugins)}
    session = auth.gateway_session()
    tenant = session.get(Tenant, ident.tenant_id)
    body["tenant"]["name"] = tenant.name if tenant is not None else None
    if ident.user_id:
        user = idm.get_user(session, ident.user_id)
        body["user"] = {"id": user.id, "email": user.email, "name": user.name,
                        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None}
    return body
