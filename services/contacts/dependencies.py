"""The contacts service's dependencies: its records (database + objects + behaviours)."""
from __future__ import annotations

from mosaic.records.provider import Records
from mosaic_contacts.behaviours import build_behaviours
from mosaic_contacts.objects import build_registry


def contacts_records() -> Records:
    """The Records dependency of the contacts service."""
    return Records("contacts", build_registry, build_behaviours)
