"""Record factories for the real-estate tests: valid records with overrides."""
from __future__ import annotations


def make_property(store, **overrides) -> dict:
    """Create a property (valid and available unless ``overrides`` say otherwise)."""
    data = {"title": "Riverside loft", "address": "1 Quay Street", "district": "riverside",
            "type": "apartment", "area_m2": 80, "rooms": 3, "price": 400000}
    data.update(overrides)
    return store.create("realestate__property", data)


def make_buyer(store, **overrides) -> dict:
    """Create a contact with a buyer requirement."""
    data = {"first_name": "Mia", "last_name": "Novak", "realestate__budget_min": 300000,
            "realestate__budget_max": 450000, "realestate__districts": ["riverside", "harbour"],
            "realestate__rooms_min": 2, "realestate__purpose": "buy"}
    data.update(overrides)
    return store.create("contact", data)


def make_viewing(store, property_id, contact_id, **overrides) -> dict:
    """Create a viewing of ``property_id`` by ``contact_id`` (pending unless overridden)."""
    data = {"property_id": property_id, "contact_id": contact_id, "scheduled_at": "2024-05-07T10:00:00Z"}
    data.update(overrides)
    return store.create("realestate__viewing", data)
