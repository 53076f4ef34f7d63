"""Testing Mosaic plugins: HTTP clients of a running stack and the ``mosaic`` pytest plugin.

    from mosaic.testing import MosaicClient, create_tenant

The fixtures (``mosaic_stack``, ``mosaic_plugins``, ``mosaic_client``) are in
:mod:`mosaic.testing.pytest_plugin`, which pytest loads through the ``pytest11`` entry point.
Importing this package starts nothing and imports no server code.
"""
from mosaic.testing.client import MosaicClient, create_tenant

__all__ = ["MosaicClient", "create_tenant"]
