"""The piece other services ask to check a reference to one of this service's records
(:mod:`mosaic.records.references` is the asking side)."""
from __future__ import annotations

from mosaic.context import Tenancy
from mosaic.entrypoints import rpc
from mosaic.pieces.base import Piece
from mosaic.records.provider import Records


class ReferencesRpc(Piece):
    """``object_names``: which objects this service hosts for the caller's tenant."""

    needs = {"ctx": Tenancy, "data": Records}

    @rpc
    def object_names(self):
        """The names of the objects this service hosts for the caller's tenant (core, its
        plugins' and its custom ones)."""
        self.ctx.tenant()
        return sorted(self.data.store().objects)
