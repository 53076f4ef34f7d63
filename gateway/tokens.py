"""Tokens: short-lived JWT access tokens and opaque, rotating refresh tokens.

Access tokens are stateless (PyJWT, HS256 with ``settings.secret_key``); a request carrying one
still has its user and tenant checked for being active (``auth.authenticate``), so deactivation
applies within the auth cache's lifetime rather than at token expiry. Refresh tokens are random
secrets stored only as their sha256 (they are high-entropy; a slow hash would buy nothing).
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mosaic.config import Settings
from mosaic.db import new_id, utcnow
from mosaic.errors import Unauthorized
from mosaic_gateway.models import RefreshToken, Tenant, User

ALGORITHM = "HS256"
ACCESS_TYPE = "access"


def sha256_hex(secret: str) -> str:
    """How token and API-key secrets are stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_access_token(settings: Settings, user: User, now: datetime | None = None) -> str:
    """A signed access token for ``user``: claims sub, tid, roles, typ, iat, exp, jti."""
    now = now or utcnow()
    claims = {
        "sub": user.id,
        "tid": user.tenant_id,
        "roles": list(user.roles or []),
        "typ": ACCESS_TYPE,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.access_ttl)).timestamp()),
        "jti": new_id(),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> dict[str, Any]:
    """The verified claims of an access token; Unauthorized if forged, expired or not one."""
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=[ALGORITHM],
                            options={"require": ["sub", "tid", "typ", "iat", "exp"]})
    except jwt.ExpiredSignatureError as err:
        raise Unauthorized("access token expired") from err
    except jwt.InvalidTokenError as err:
        raise Unauthorized("invalid access token") from err
    if claims.get("typ") != ACCESS_TYPE:
        raise Unauthorized("invalid access token")
    return claims


def issue_refresh_token(session: Session, user: User, ttl: int, *, family_id: str | None = None,
                        rotated_from: str | None = None, now: datetime | None = None) -> str:
    """Store a new refresh token for ``user`` (only its sha256) and return the opaque secret."""
    now = now or utcnow()
    secret = secrets.token_urlsafe(32)
    token_id = new_id()
    session.add(RefreshToken(id=token_id, tenant_id=user.tenant_id, token_hash=sha256_hex(secret),
                             user_id=user.id, family_id=family_id or token_id, rotated_from=rotated_from,
                             expires_at=now + timedelta(seconds=ttl)))
    session.flush()
    return secret


def _revoke_family(session: Session, family_id: str, now: datetime) -> None:
    session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id,
                                               RefreshToken.revoked_at.is_(None)).values(revoked_at=now))


def rotate_refresh_token(session: Session, secret: str, ttl: int,
                         now: datetime | None = None) -> tuple[User, Tenant, str]:
    """Trade a live refresh token for a new one (system session): the old one is revoked.

    Presenting an already revoked token means it leaked (or a client replayed it): the whole
    chain is revoked, committed, and the call answers 401, so the thief's copy dies too.
    """
    now = now or utcnow()
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(secret or "")))
    if row is None:
        raise Unauthorized("invalid refresh token")
    # Conditional update: of two concurrent rotations of one token, exactly one wins.
    won = row.revoked_at is None and session.execute(
        update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount == 1
    if not won:
        _revoke_family(session, row.family_id, now)
        session.commit()
        raise Unauthorized("refresh token reuse detected; sign in again")
    if row.expires_at <= now:
        raise Unauthorized("refresh token expired")
    user = session.get(User, row.user_id)
    tenant = session.get(Tenant, row.tenant_id)
    if user is None or tenant is None or not user.active or not tenant.active:
        raise Unauthorized("account inactive")
    new_secret = issue_refresh_token(session, user, ttl, family_id=row.family_id,
                                     rotated_from=row.id, now=now)
    return user, tenant, new_secret


def revoke_refresh_token(session: Session, secret: str) -> bool:
    """Revoke one refresh token (logout); True if a live token was revoked."""
    result = session.execute(update(RefreshToken).where(
        RefreshToken.token_hash == sha256_hex(secret or ""), RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    return result.rowcount == 1


def revoke_user_tokens(session: Session, user_id: str) -> None:
    """Revoke every live refresh token of a user (deactivation, password change)."""
    session.execute(update(RefreshToken).where(RefreshToken.user_id == user_id,
                                               RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow()).execution_options(synchronize_session=False))


