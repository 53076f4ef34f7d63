"""How the contacts service declares itself to the platform (entry point ``mosaic.services``:
``contacts = "mosaic_contacts.spec:SERVICE"``; see docs/services.md)."""
from __future__ import annotations

from mosaic.permissions import FULL, READ, WORKER
from mosaic.services import ServiceSpec

SERVICE = ServiceSpec(
    name="contacts",
    label="Contacts",
    description="Accounts, contacts, relationships and activities: the customers every module works with.",
    package="mosaic_contacts",
    service_class="mosaic_contacts.service:ContactsService",
    plugin="mosaic_contacts.plugin",
    models=("mosaic_contacts.models",),
    tables=("accounts", "contacts", "relationships", "activities", "lifecycle_changes", "merges"),
    grants={"admin": FULL, "manager": FULL, "sales": WORKER, "agent": WORKER, "marketer": WORKER,
            "readonly": READ},
    view_360="view_360",
    imports=True,
)
