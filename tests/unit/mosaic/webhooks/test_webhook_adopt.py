"""mosaic.webhooks.adopt: the subscriptions record services held (one copy per service, one id and
one plain secret) become one row each in their owner, secrets sealed, once."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from mosaic.db import Base, make_engine, system_session, tenant_session
from mosaic.webhooks import WEBHOOK_TABLES, WebhookSubscription, page_subscriptions
from mosaic.webhooks.adopt import adopt_subscriptions
from mosaic.webhooks.sealing import is_sealed
from tests.unit.mosaic.webhooks.conftest import BOX

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def engines(tmp_path):
    made = {}
    for name in ("contacts", "sales", "hub"):
        made[name] = make_engine(f"sqlite:///{tmp_path / name}.db", name)
        Base.metadata.create_all(made[name], tables=WEBHOOK_TABLES)
    yield made
    for engine in made.values():
        engine.dispose()


def legacy(engine, sub_id: str, tenant: str, secret: str, minute: int = 0, **extra) -> None:
    """A subscription as the gateway copied it into a service before the hub owned them."""
    at = T0.replace(minute=minute)
    with system_session(engine) as session:
        session.add(WebhookSubscription(id=sub_id, tenant_id=tenant, url=f"https://hooks.example.com/{sub_id}",
                                        events=["contact.*"], secret=secret, description=None,
                                        active=extra.get("active", True), created_at=at, updated_at=at))
        session.commit()


def owned(engine) -> dict[str, WebhookSubscription]:
    with system_session(engine) as session:
        return {row.id: row for row in session.scalars(select(WebhookSubscription))}


def test_each_subscription_is_adopted_once_with_its_id_and_its_secret_sealed(engines):
    for service in ("contacts", "sales"):  # the same subscription in every service
        legacy(engines[service], "s1", "t1", "a" * 43, minute=1)
    legacy(engines["contacts"], "s2", "t1", "b" * 43, minute=2, active=False)
    legacy(engines["sales"], "s3", "t2", "c" * 43, minute=3)
    done = adopt_subscriptions({"contacts": engines["contacts"], "sales": engines["sales"]}, engines["hub"], BOX)
    assert sorted(done.adopted) == ["s1", "s2", "s3"] and done.already == [] and done.refused == {}
    rows = owned(engines["hub"])
    assert {k: (r.tenant_id, r.active) for k, r in rows.items()} == {"s1": ("t1", True), "s2": ("t1", False),
                                                                    "s3": ("t2", True)}
    assert all(is_sealed(r.secret) for r in rows.values())
    assert [BOX.open(rows[k].secret) for k in ("s1", "s2", "s3")] == ["a" * 43, "b" * 43, "c" * 43]
    with tenant_session(engines["hub"], "t1") as session:  # the owner pages them in their old order
        assert [s["id"] for s in page_subscriptions(session)["items"]] == ["s1", "s2"]

    again = adopt_subscriptions({"contacts": engines["contacts"], "sales": engines["sales"]}, engines["hub"], BOX)
    assert again.adopted == [] and sorted(again.already) == ["s1", "s2", "s3"]
    assert len(owned(engines["hub"])) == 3


def test_a_tenant_at_its_limit_is_told_not_silently_truncated(engines):
    for i in range(3):
        legacy(engines["contacts"], f"s{i}", "t1", "d" * 43, minute=i)
    done = adopt_subscriptions({"contacts": engines["contacts"]}, engines["hub"], BOX, limit=2)
    assert done.adopted == ["s0", "s1"] and list(done.refused) == ["s2"]
    assert "2 subscriptions already" in done.refused["s2"]


def test_without_a_key_a_plain_secret_is_refused_never_stored_in_clear(engines):
    legacy(engines["contacts"], "s1", "t1", "a" * 43)
    legacy(engines["contacts"], "s2", "t1", BOX.seal("b" * 43), minute=2)  # sealed already: no key needed
    done = adopt_subscriptions({"contacts": engines["contacts"]}, engines["hub"], None)
    assert done.adopted == ["s2"] and list(done.refused) == ["s1"] and "MOSAIC_SECRET_KEY" in done.refused["s1"]
    assert list(owned(engines["hub"])) == ["s2"]
