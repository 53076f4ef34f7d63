from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from mosaic.db import system_session, utcnow
from mosaic.errors import Unauthorized
from mosaic_gateway import tokens
from mosaic_gateway.models import RefreshToken


def test_access_token_claims(settings, make_tenant):
    _tenant, admin = make_tenant()
    claims = tokens.decode_access_token(settings, tokens.issue_access_token(settings, admin))
    assert claims["sub"] == admin.id and claims["tid"] == admin.tenant_id
    assert claims["roles"] == ["admin"] and claims["typ"] == "access" and claims["jti"]
    assert claims["exp"] - claims["iat"] == settings.access_ttl


def test_expired_access_token_is_refused(settings, make_tenant):
    _tenant, admin = make_tenant()
    old = tokens.issue_access_token(settings, admin, now=utcnow() - timedelta(seconds=settings.access_ttl + 5))
    with pytest.raises(Unauthorized) as err:
        tokens.decode_access_token(settings, old)
    assert "expired" in err.value.detail


def test_forged_or_foreign_tokens_are_refused(settings, make_tenant):
    _tenant, admin = make_tenant()
    good = tokens.decode_access_token(settings, tokens.issue_access_token(settings, admin))
    forged = jwt.encode(good, "k" * 48, algorithm="HS256")
    wrong_type = jwt.encode({**good, "typ": "refresh"}, settings.secret_key, algorithm="HS256")
    unsigned = jwt.encode(good, None, algorithm="none")
    for token in (forged, wrong_type, unsigned, "not.a.jwt"):
        with pytest.raises(Unauthorized):
            tokens.decode_access_token(settings, token)


@pytest.fixture
def issue(engine, make_tenant):
    """``issue(ttl=3600)`` -> (admin, refresh secret) of a fresh tenant."""
    def factory(ttl: int = 3600, **overrides):
        _tenant, admin = make_tenant()
        with system_session(engine) as s:
            secret = tokens.issue_refresh_token(s, admin, ttl, **overrides)
            s.commit()
        return admin, secret
    return factory


def rotate(engine, secret, ttl=3600, **kwargs):
    with system_session(engine) as s:
        result = tokens.rotate_refresh_token(s, secret, ttl, **kwargs)
        s.commit()
        return result


def test_refresh_tokens_are_stored_hashed(engine, issue):
    _admin, secret = issue()
    with system_session(engine) as s:
        row = s.scalar(select(RefreshToken))
        assert row.token_hash == tokens.sha256_hex(secret) and secret not in row.token_hash


def test_rotation_revokes_the_old_token(engine, issue):
    admin, first = issue()
    user, _tenant, second = rotate(engine, first)
    assert user.id == admin.id and second != first
    with pytest.raises(Unauthorized):
        rotate(engine, first)


def test_reuse_revokes_the_whole_chain(engine, issue):
    _admin, first = issue()
    _u, _t, second = rotate(engine, first)
    with pytest.raises(Unauthorized) as err:
        rotate(engine, first)  # the stolen, already rotated token comes back
    assert "reuse" in err.value.detail
    with pytest.raises(Unauthorized):
        rotate(engine, second)  # so the legitimate holder's newer token is dead too
    with system_session(engine) as s:
        rows = list(s.scalars(select(RefreshToken)))
        assert len(rows) == 2 and all(r.revoked_at is not None for r in rows)
        assert len({r.family_id for r in rows}) == 1
        assert {r.rotated_from for r in rows} == {None, rows[0].id}


def test_expired_refresh_token_is_refused(engine, issue):
    _admin, secret = issue(ttl=60, now=utcnow() - timedelta(seconds=120))
    with pytest.raises(Unauthorized) as err:
        rotate(engine, secret)
    assert "expired" in err.value.detail


def test_unknown_refresh_token_is_refused(engine, issue):
    issue()
    with pytest.raises(Unauthorized):
        rotate(engine, "made-up")


def test_logout_revokes(engine, issue):
    _admin, secret = issue()
    with system_session(engine) as s:
        assert tokens.revoke_refresh_token(s, secret)
        assert not tokens.revoke_refresh_token(s, secret)
        s.commit()
    with pytest.raises(Unauthorized):
        rotate(engine, secret)
