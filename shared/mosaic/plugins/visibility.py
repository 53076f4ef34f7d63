"""What a tenant sees of the plugins' declarations: only those of the plugins it has enabled.

Disabling a plugin hides its objects and fields without touching data: records of its objects
stay in the records table and its fields' values stay in the JSON columns, and come back when
the plugin is enabled again.
"""
from __future__ import annotations

from dataclasses import replace

from mosaic.metadata.fields import ObjectDef


def visible_objects(objects: dict[str, ObjectDef], enabled: frozenset[str]) -> dict[str, ObjectDef]:
    """``objects`` without those of plugins outside ``enabled``, and without such plugins' fields
    on the remaining objects."""
    out: dict[str, ObjectDef] = {}
    for name, obj in objects.items():
        if obj.namespace and obj.namespace not in enabled:
            continue
        if any(f.namespace and f.namespace not in enabled for f in obj.fields):
            obj = replace(obj, fields=tuple(f for f in obj.fields
                                            if not f.namespace or f.namespace in enabled), _index={})
        out[name] = obj
    return out
