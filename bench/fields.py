"""The five custom fields every contact benchmark defines, and matching values for row ``n``.

Shared so that the create, import and filter benchmarks load comparable records.
"""
from __future__ import annotations

import time
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
    if indexed:
        wait_for_indexes(client, indexed)


def wait_for_indexes(client, names: tuple[str, ...], timeout: float = 120.0) -> None:
    """Wait until the background builds of the ``names`` indexes are done (PostgreSQL builds
    them CONCURRENTLY on the service's job timer; SQLite builds none: status null)."""
    deadline = time.monotonic() + timeout
    while True:
        objects = client.expect(client.get("metadata/objects"), 200)["items"]
        contact = next(o for o in objects if o["name"] == "contact")
        states = {f["name"]: f.get("index_status") for f in contact["fields"] if f["name"] in names}
        failed = {n: s for n, s in states.items() if s == "failed"}
        if failed:
            raise RuntimeError(f"index builds failed: {sorted(failed)}")
        if all(s in (None, "ready") for s in states.values()):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"index builds not done after {timeout:g} s: {states}")
        time.sleep(0.5)
