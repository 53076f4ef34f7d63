"""The plugin host (pluggy): hooks, manifests, per-tenant enablement.

    from mosaic.plugins import Manifest, hookimpl

    MANIFEST = Manifest(name="realestate", version="1.0.0", core=">=0.2,<1", extends=("contact",))

    @hookimpl
    def mosaic_objects():
        return [ObjectDef(name="realestate__property", ...)]

See ``docs/plugins.md`` for the guide and the reference of every hook.
"""
import pluggy

from mosaic.plugins.host import PluginError, PluginHost, get_host, set_host
from mosaic.plugins.manifest import Manifest, ManifestError

hookimpl = pluggy.HookimplMarker("mosaic")

__all__ = ["hookimpl", "Manifest", "ManifestError", "PluginHost", "PluginError", "get_host", "set_host"]
