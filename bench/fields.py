"""The five custom fields every contact benchmark defines, and matching values for row ``n``.

Shared so that the create, import and filter benchmarks load comparable records.
"""
from __future__ import annotations

from datetime import date, timedelta

TIERS = ("bronze", "silver", "gold", "platinum")

#: the metadata API definitions (``POST /api/v1/metadata/objects/contact/fields``)
CUSTOM_FIELDS = [
    {"name": "tier", "type": "picklist", "choices": list(TIERS), "label": "Tier"},
    {"name": "score", "type": "integer", "min_value": 0, "max_value": 1000, "label": "Score"},
    {"name": "budget", "type": "decimal", "min_value": 0, "label": "Budget"},
    {"name": "vip", "type": "boolean", "label": "VIP"},
    {"name": "renewal", "type": "date", "label": "Renewal date"},
]


def custom_values(n: int) -> dict:
    """Deterministic values of the five custom fields for row ``n``."""
    return {"tier": TIERS[n % len(TIERS)], "score": (n * 7) % 1001, "budget": round((n % 5000) * 12.5, 2),
            "vip": n % 10 == 0, "renewal": (date(2026, 1, 1) + timedelta(days=n % 365)).isoformat()}


def define(client, fields=CUSTOM_FIELDS, indexed: tuple[str, ...] = ()) -> None:
    """Add ``fields`` to the tenant's contact object (``indexed`` names get an expression index)."""
    for definition in fields:
        body = {**definition, "indexed": definition["name"] in indexed}
        client.expect(client.post("metadata/objects/contact/fields", body), 201)
