"""The contacts service's core objects, declared through the same hook a partner's plugin uses."""
from __future__ import annotations

from mosaic import __version__
from mosaic.plugins import Manifest, hookimpl
from mosaic_contacts.objects import CORE_OBJECTS

MANIFEST = Manifest(name="contacts", version=__version__, label="Contacts (core)",
                    description="Accounts, contacts, relationships and activities.",
                    modules=("contacts",), builtin=True)


@hookimpl
def mosaic_objects():
    return list(CORE_OBJECTS)
