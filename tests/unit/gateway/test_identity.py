import hashlib

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from mosaic.db import system_session, tenant_session
from mosaic.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from mosaic_gateway import identity
from mosaic_gateway.models import ApiKey, Tenant, User

PASSWORD = "correct horse battery"  # what the conftest factories use


@pytest.fixture
def tsession(engine, make_tenant):
    """``tsession(tenant)``: a tenant session, closed after the test."""
    opened = []

    def factory(tenant):
        s = tenant_session(engine, tenant.id)
        opened.append(s)
        return s
    yield factory
    for s in opened:
        s.close()


def test_create_tenant_makes_an_admin(make_tenant, engine):
    tenant, admin = make_tenant("acme", modules=("contacts", "sales"))
    assert tenant.slug == "acme" and tenant.modules == ["contacts", "sales"] and tenant.active
    assert admin.roles == ["admin"] and admin.tenant_id == tenant.id and admin.email == "admin@acme.test"


def test_password_hashes_are_argon2id(monkeypatch, make_tenant, engine):
    monkeypatch.setattr(identity, "HASHER", PasswordHasher())  # the production parameters
    _tenant, admin = make_tenant()
    assert admin.password_hash.startswith("$argon2id$")
    assert PASSWORD not in admin.password_hash


@pytest.mark.parametrize("slug", ["Acme", "-acme", "acme-", "a_b", "", "x" * 64])
def test_bad_slugs_are_refused(make_tenant, slug):
    with pytest.raises(ValidationFailed) as err:
        make_tenant(slug)
    assert "slug" in err.value.errors


def test_duplicate_slug_conflicts(make_tenant):
    make_tenant("acme")
    with pytest.raises(Conflict):
        make_tenant("acme")


def test_unknown_modules_are_refused(make_tenant, engine):
    tenant, _ = make_tenant()
    with system_session(engine) as s:
        with pytest.raises(ValidationFailed) as err:
            identity.set_modules(s, tenant.id, ["contacts", "crypto"])
        assert "modules" in err.value.errors
        assert identity.set_modules(s, tenant.id, ["sales", "contacts", "sales"]).modules == ["sales", "contacts"]


def test_email_is_lowercased_and_unique_per_tenant(make_tenant, make_user):
    a, _ = make_tenant()
    b, _ = make_tenant()
    user = make_user(a, email="Ann@Example.COM")
    assert user.email == "ann@example.com"
    with pytest.raises(Conflict):
        make_user(a, email="ann@EXAMPLE.com")
    assert make_user(b, email="ann@example.com").tenant_id == b.id  # another tenant may reuse it


def test_password_policy(make_tenant, make_user):
    tenant, _ = make_tenant()
    with pytest.raises(ValidationFailed) as err:
        make_user(tenant, password="short")
    assert "password" in err.value.errors


def test_unknown_roles_are_refused(make_tenant, make_user):
    tenant, _ = make_tenant()
    with pytest.raises(ValidationFailed) as err:
        make_user(tenant, roles=["root"])
    assert "roles" in err.value.errors


def test_verify_login(make_tenant, engine):
    tenant, admin = make_tenant("acme")
    with system_session(engine) as s:
        user = identity.verify_login(s, "acme", "ADMIN@acme.test", PASSWORD)
        assert user.id == admin.id and user.last_login_at is not None


@pytest.mark.parametrize("slug,email,password", [
    ("acme", "admin@acme.test", "wrong password!"),
    ("acme", "nobody@acme.test", PASSWORD),
    ("nope", "admin@acme.test", PASSWORD),
])
def test_bad_credentials_all_look_the_same(make_tenant, engine, slug, email, password):
    make_tenant("acme")
    with system_session(engine) as s, pytest.raises(Unauthorized) as err:
        identity.verify_login(s, slug, email, password)
    assert err.value.detail == identity.INVALID_CREDENTIALS


def test_inactive_user_or_tenant_cannot_log_in(make_tenant, make_user, engine, tsession):
    tenant, _ = make_tenant("acme")
    user = make_user(tenant, email="u@acme.test")
    s = tsession(tenant)
    identity.deactivate_user(s, user.id)
    s.commit()
    with system_session(engine) as sys, pytest.raises(Unauthorized):
        identity.verify_login(sys, "acme", "u@acme.test", PASSWORD)
    with system_session(engine) as sys:
        identity.update_tenant(sys, tenant.id, active=False)
        sys.commit()
        with pytest.raises(Unauthorized):
            identity.verify_login(sys, "acme", "admin@acme.test", PASSWORD)


def test_tenant_session_cannot_reach_other_tenants_users(make_tenant, make_user, tsession):
    a, _ = make_tenant()
    b, _ = make_tenant()
    bob = make_user(b)
    s = tsession(a)
    with pytest.raises(NotFound):
        identity.get_user(s, bob.id)
    with pytest.raises(NotFound):
        identity.update_user(s, bob.id, name="hijacked")
    assert bob.id not in {u.id for u in identity.list_users(s)}


def test_last_admin_is_kept(make_tenant, make_user, tsession):
    tenant, admin = make_tenant()
    s = tsession(tenant)
    with pytest.raises(Conflict):
        identity.deactivate_user(s, admin.id)
    with pytest.raises(Conflict):
        identity.update_user(s, admin.id, roles=["sales"])
    s.rollback()  # embedded SQLite has one connection: release it before the factory's session
    second = make_user(tenant, roles=["admin"])
    assert identity.update_user(s, admin.id, roles=["sales"]).roles == ["sales"]
    assert identity.get_user(s, second.id).roles == ["admin"]


def test_update_user_changes_email_and_password(make_tenant, make_user, engine, tsession):
    tenant, _ = make_tenant("acme")
    user = make_user(tenant, email="old@acme.test")
    s = tsession(tenant)
    identity.update_user(s, user.id, email="New@acme.test", password="another long password")
    s.commit()
    with system_session(engine) as sys:
        assert identity.verify_login(sys, "acme", "new@acme.test", "another long password").id == user.id


def test_api_keys_are_stored_hashed(make_tenant, engine, tsession):
    tenant, admin = make_tenant()
    s = tsession(tenant)
    key, secret = identity.create_api_key(s, "crm sync", ["sales"], created_by=admin.id)
    s.commit()
    prefix = secret.split("_")[1]
    assert secret.startswith(f"mk_{key.prefix}_") and len(prefix) == 8
    with system_session(engine) as sys:
        row = sys.scalar(select(ApiKey).where(ApiKey.id == key.id))
        assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in (row.key_hash, row.prefix, row.name)
        assert identity.verify_api_key(sys, secret).id == key.id


@pytest.mark.parametrize("mangle", [
    lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),
    lambda s: "mk_zzzzzzzz_" + s.split("_", 2)[2],
    lambda s: "garbage",
    lambda s: "",
])
def test_wrong_api_keys_are_refused(make_tenant, engine, tsession, mangle):
    tenant, _ = make_tenant()
    s = tsession(tenant)
    _key, secret = identity.create_api_key(s, "k", ["readonly"])
    s.commit()
    with system_session(engine) as sys, pytest.raises(Unauthorized):
        identity.verify_api_key(sys, mangle(secret))


def test_revoke_api_key(make_tenant, engine, tsession):
    a, _ = make_tenant()
    b, _ = make_tenant()
    s = tsession(a)
    key, secret = identity.create_api_key(s, "k", ["readonly"])
    s.commit()
    other = tsession(b)
    with pytest.raises(NotFound):  # another tenant's admin cannot revoke it
        identity.revoke_api_key(other, key.id)
    other.close()
    identity.revoke_api_key(s, key.id)
    s.commit()
    with system_session(engine) as sys, pytest.raises(Unauthorized):
        identity.verify_api_key(sys, secret)


def test_replace_field_permissions(make_tenant, tsession):
    a, _ = make_tenant()
    b, _ = make_tenant()
    s = tsession(a)
    rule = {"object": "contact", "field": "salary", "role": "sales", "access": "none"}
    identity.replace_field_permissions(s, [rule])
    rows = identity.replace_field_permissions(s, [rule, {**rule, "role": "agent", "access": "read"}])
    s.commit()
    assert [(r.role, r.access) for r in rows] == [("agent", "read"), ("sales", "none")]
    other = tsession(b)
    assert identity.list_field_permissions(other) == []
    other.close()
    with pytest.raises(ValidationFailed):
        identity.replace_field_permissions(s, [{**rule, "access": "write-only"}])


def test_tenant_rows_exist(make_tenant, engine):
    make_tenant("acme")
    with system_session(engine) as s:
        assert s.scalar(select(Tenant.slug)) == "acme"
        assert s.scalar(select(User.email)) == "admin@acme.test"
