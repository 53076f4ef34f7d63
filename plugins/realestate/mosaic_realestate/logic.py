"""The plugin's low-code behaviour, declared as data in the platform's JSON formats: the listing
process, automation rules, validation rules and analytics metrics.

These are the same documents a tenant admin could PUT to ``/api/v1/metadata/...``; the platform
compiles them per tenant (``mosaic.logic``), so they are checked like any admin's definition.
"""
from __future__ import annotations

from mosaic_realestate.objects import PROPERTY

LISTING = "realestate__listing"

EXPIRY_MESSAGE = "Reservation of {{title}} expired after 7 days; it is available again."
CONTRACT_GUARD_MESSAGE = "A property goes under contract only after a viewing with a positive outcome."

LISTING_PROCESS: dict = {
    "name": LISTING, "label": "Listing", "object": PROPERTY, "field": "status",
    "initial": "available",
    "description": "From listing to sale: a reservation lapses after 7 days, a contract needs a "
                   "positive viewing first.",
    "stages": [
        {"name": "available", "label": "Available"},
        {"name": "reserved", "label": "Reserved",
         "timers": [{"name": "expire", "after": {"days": 7},
                     "actions": [{"type": "transition", "to": "available"},
                                 {"type": "notify", "to": "owner", "message": EXPIRY_MESSAGE}]}]},
        {"name": "under_contract", "label": "Under contract"},
        {"name": "sold", "label": "Sold", "final": True},
    ],
    "transitions": [
        {"name": "reserve", "label": "Reserve", "from": ["available"], "to": "reserved"},
        {"name": "contract", "label": "Sign contract", "from": ["reserved"], "to": "under_contract",
         "guard": "positive_viewings > 0", "guard_message": CONTRACT_GUARD_MESSAGE},
        {"name": "sell", "label": "Sell", "from": ["under_contract"], "to": "sold"},
        {"name": "release", "label": "Release", "from": ["reserved", "under_contract"], "to": "available"},
    ],
    "active": True,
}

AUTOMATION_RULES: list[dict] = [
    {"name": "realestate__contract_paperwork", "label": "Contract paperwork", "object": PROPERTY,
     "order": 10, "active": True,
     "description": "When a property goes under contract, its owner gets a task to prepare the deed.",
     "trigger": {"type": "stage_entered", "process": LISTING, "stage": "under_contract"},
     "actions": [{"type": "create_task", "subject": "Prepare the sales contract for {{title}}",
                  "due": {"days": 2}}]},
]

VALIDATION_RULES: list[dict] = [
    {"name": "realestate__positive_price_area", "object": PROPERTY,
     "condition": "price > 0 and area_m2 > 0",
     "message": "Price and area must be positive.", "field": "price", "active": True},
]

METRICS: list[dict] = [
    {"name": "realestate__listings_by_status", "label": "Listings by status", "object": PROPERTY,
     "aggregate": "count", "group_by": "status"},
    {"name": "realestate__avg_price_by_district", "label": "Average asking price by district",
     "object": PROPERTY, "aggregate": "avg", "field": "price", "group_by": "district"},
    {"name": "realestate__available_value", "label": "Value of available listings", "object": PROPERTY,
     "aggregate": "sum", "field": "price", "filter": 'status = "available"'},
    {"name": "realestate__commission_sold", "label": "Commission earned on sold properties",
     "object": PROPERTY, "aggregate": "sum", "field": "commission", "filter": 'status = "sold"'},
]


def processes() -> list[dict]:
    """The plugin's processes."""
    return [LISTING_PROCESS]


def automation_rules() -> list[dict]:
    """The plugin's automation rules."""
    return list(AUTOMATION_RULES)


def validation_rules() -> list[dict]:
    """The plugin's validation rules."""
    return list(VALIDATION_RULES)


def metrics() -> list[dict]:
    """The plugin's analytics metrics."""
    return list(METRICS)
