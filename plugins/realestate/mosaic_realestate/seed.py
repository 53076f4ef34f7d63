"""Demo data: six properties across the districts, three buyers with requirements, and viewings
(one positive, so the first property can go under contract)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from mosaic_realestate.objects import CONTACT, PROPERTY, VIEWING

PROPERTIES = [
    {"title": "Bright loft by the river", "address": "12 Quay Street", "district": "riverside",
     "type": "apartment", "area_m2": 84.5, "rooms": 3, "price": 385000, "listing_agent": "demo-agent",
     "description": "Open-plan loft with a balcony over the water."},
    {"title": "Family house near the lake", "address": "4 Birch Lane", "district": "lakeside",
     "type": "house", "area_m2": 162, "rooms": 6, "price": 640000, "commission_rate": 2.5,
     "listing_agent": "demo-agent"},
    {"title": "Old town studio", "address": "7 Market Square", "district": "old_town",
     "type": "apartment", "area_m2": 38, "rooms": 1, "price": 219000, "listing_agent": "demo-agent"},
    {"title": "Townhouse at the harbour", "address": "22 Dock Road", "district": "harbour",
     "type": "townhouse", "area_m2": 128, "rooms": 5, "price": 512000, "listing_agent": "demo-agent"},
    {"title": "Student flat by the campus", "address": "3 College Row", "district": "university",
     "type": "apartment", "area_m2": 52, "rooms": 2, "price": 248000, "listing_agent": "demo-agent"},
    {"title": "Corner shop in the centre", "address": "1 High Street", "district": "city_centre",
     "type": "commercial", "area_m2": 95, "rooms": 2, "price": 455000, "commission_rate": 4,
     "listing_agent": "demo-agent"},
]

BUYERS = [
    {"first_name": "Mia", "last_name": "Novak", "email": "mia.novak@example.org", "lifecycle_stage": "prospect",
     "realestate__budget_min": 300000, "realestate__budget_max": 450000,
     "realestate__districts": ["riverside", "harbour", "old_town"], "realestate__rooms_min": 2,
     "realestate__purpose": "buy"},
    {"first_name": "Jonas", "last_name": "Berg", "email": "jonas.berg@example.org", "lifecycle_stage": "prospect",
     "realestate__budget_max": 700000, "realestate__districts": ["lakeside", "north_hills"],
     "realestate__rooms_min": 5, "realestate__purpose": "buy"},
    {"first_name": "Aiko", "last_name": "Tanaka", "email": "aiko.tanaka@example.org", "lifecycle_stage": "lead",
     "realestate__budget_max": 260000, "realestate__districts": ["university", "old_town"],
     "realestate__purpose": "invest"},
]

#: (property index, buyer index, days from now, outcome)
VIEWINGS = [(0, 0, -3, "positive"), (3, 0, -1, "neutral"), (1, 1, 2, "pending"), (4, 2, 1, "pending")]


def seed(client) -> dict:
    """Create the demo records through ``client`` (a :class:`~mosaic.plugins.seeding.SeedClient`);
    does nothing when the first demo property exists already. Returns what it created, by object."""
    if client.list(PROPERTY, filter=f'title = "{PROPERTIES[0]["title"]}"', limit=1):
        return {}
    props = [client.create(PROPERTY, data) for data in PROPERTIES]
    buyers = [client.create(CONTACT, data) for data in BUYERS]
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    viewings = []
    for p, b, days, outcome in VIEWINGS:
        viewings.append(client.create(VIEWING, {
            "property_id": props[p]["id"], "contact_id": buyers[b]["id"], "agent": "demo-agent",
            "scheduled_at": (now + timedelta(days=days)).isoformat(), "outcome": outcome,
            "feedback": "Loved the light and the view." if outcome == "positive" else None}))
    return {PROPERTY: props, CONTACT: buyers, VIEWING: viewings}
