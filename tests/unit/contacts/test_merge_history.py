"""A merge always shows in the survivor's history — with the fields it changed, or with none
when every value the survivor had won — and the merged record's own history ends in a merge."""
from __future__ import annotations

import pytest

from mosaic.audit import history
from mosaic.config import load_settings
from mosaic.context import RequestContext
from mosaic.db import get_engine, tenant_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate
from mosaic.metadata.store import metadata_version, tenant_objects
from mosaic.records.store import RecordStore
from mosaic_contacts.behaviours import build_behaviours
from mosaic_contacts.merge import merge
from mosaic_contacts.objects import build_registry

REGISTRY = build_registry()


@pytest.fixture
def store(tmp_path):
    settings = load_settings({"MOSAIC_DATA_DIR": str(tmp_path)})
    migrate(settings, "contacts")
    with tenant_session(get_engine(settings, "contacts"), "t1") as session:
        ctx = RequestContext(tenant_id="t1", user_id="u1", roles=("admin",), modules=("contacts",))
        yield RecordStore(session, tenant_objects(session, REGISTRY), ctx, module="contacts",
                          metadata_version=metadata_version(session), behaviours=build_behaviours())
    dispose_engines()


def actions(store, record_id):
    return [e["action"] for e in history(store.session, "contact", record_id)["items"]]


@pytest.mark.parametrize("loser_values, changed", [
    ({"last_name": "Lee"}, set()),  # nothing the survivor lacks: no field changes
    ({"last_name": "Lee", "phone": "+34 600 000 001"}, {"phone"}),
])
def test_the_survivor_history_has_one_merge_entry(store, loser_values, changed):
    keep = store.create("contact", {"first_name": "Ann", "last_name": "Lee", "email": "ann@x.test"})
    other = store.create("contact", loser_values)
    merge(store, "contact", keep["id"], [other["id"]])
    entries = history(store.session, "contact", keep["id"])["items"]
    assert [e["action"] for e in entries] == ["merge", "create"]
    assert set(entries[0]["changes"]) == changed
    assert actions(store, other["id"]) == ["merge", "create"]
