"""Request ids of calls between services (``mosaic.calls.child_request_id``)."""
from __future__ import annotations

from mosaic.calls import MAX_REQUEST_ID, child_request_id


def test_a_child_id_names_its_parent_callee_method_and_call():
    assert child_request_id("k:1", "contacts", "create_record", 1) == "k:1>contacts.create_record"
    assert child_request_id("k:1", "contacts", "create_record", 3) == "k:1>contacts.create_record:3"
    grandchild = child_request_id(child_request_id("k:1", "sales", "convert", 1), "contacts", "create_record", 1)
    assert grandchild == "k:1>sales.convert>contacts.create_record"


def test_a_deep_chain_is_hashed_to_fit_the_request_log_and_stays_deterministic():
    parent = "k:" + "a" * 190
    child = child_request_id(parent, "contacts", "create_record", 2)
    assert len(child) <= MAX_REQUEST_ID and child.startswith("h:")
    assert child == child_request_id(parent, "contacts", "create_record", 2)
    assert child != child_request_id(parent, "contacts", "create_record", 3)
