"""The client a plugin's ``mosaic_seed_demo`` hook gets: record calls as the tenant's admin."""
from __future__ import annotations

from typing import Any, Callable


class SeedClient:
    """``create(object, data)`` and ``list(object, filter=None)`` through the services that host
    each object (RPC, with the tenant's admin context)."""

    def __init__(self, call: Callable[..., Any], service_of: Callable[[str], str]):
        self._call = call
        self._service_of = service_of
        self.created: list[dict] = []

    def create(self, object_name: str, data: dict) -> dict:
        """Create a record (duplicates allowed) and return it."""
        result = self._call(self._service_of(object_name), "create_record", object_name, data,
                            dedup_policy="allow")
        self.created.append(result["record"])
        return result["record"]

    def list(self, object_name: str, filter: str | None = None, limit: int = 100) -> list[dict]:
        """Records of ``object_name`` matching ``filter``."""
        return self._call(self._service_of(object_name), "list_records", object_name, filter=filter,
                          limit=limit)["items"]
