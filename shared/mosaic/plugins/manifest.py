"""A plugin's manifest: who it is, which core versions it supports, what it needs and touches."""
from __future__ import annotations

from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from mosaic.metadata.fields import NAME_RE


class ManifestError(ValueError):
    """A manifest that cannot be loaded (bad name, version, core range, dependencies)."""


@dataclass(frozen=True)
class Manifest:
    """``MANIFEST = Manifest(...)`` in a plugin's entry-point module.

    - ``name``: the plugin's name and namespace (snake_case, no double underscore);
    - ``version``: the plugin's own version (PEP 440);
    - ``core``: the Mosaic versions it supports, a PEP 440 specifier (``">=0.2,<1"``);
    - ``modules``: modules a tenant must have enabled to enable the plugin;
    - ``requires``: other plugins a tenant must have enabled first;
    - ``extends``: objects of the core or of required plugins the plugin adds fields, processes
      or rules to (its own objects need not be listed);
    - ``events``: the event types (topic patterns such as ``contact.*``) its
      ``mosaic_handle_event`` needs; services consume only what some plugin needs. Empty with the
      hook implemented means every event (``#``).
    """

    name: str
    version: str
    core: str = ""
    label: str = ""
    description: str = ""
    modules: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    extends: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    author: str = ""
    builtin: bool = field(default=False, compare=False)

    @property
    def namespace(self) -> str:
        """The prefix of the plugin's object, field, process and rule names (``name__``)."""
        return f"{self.name}__"

    def check(self, core_version: str) -> None:
        """Raise :class:`ManifestError` unless the manifest is well-formed and supports
        ``core_version``."""
        if not NAME_RE.match(self.name or "") or "__" in self.name:
            raise ManifestError(f"plugin name {self.name!r} must be snake_case without '__'")
        try:
            Version(self.version)
        except InvalidVersion:
            raise ManifestError(f"plugin {self.name}: version {self.version!r} is not a PEP 440 version") from None
        if self.core:
            try:
                spec = SpecifierSet(self.core)
            except InvalidSpecifier:
                raise ManifestError(f"plugin {self.name}: core {self.core!r} is not a version range") from None
            if Version(core_version) not in spec:
                raise ManifestError(f"plugin {self.name} {self.version} supports Mosaic {self.core}, "
                                    f"not {core_version}")
        if self.name in self.requires:
            raise ManifestError(f"plugin {self.name} requires itself")

    def to_dict(self) -> dict:
        """JSON form (admin API)."""
        return {"name": self.name, "version": self.version, "core": self.core,
                "label": self.label or self.name, "description": self.description,
                "modules": list(self.modules), "requires": list(self.requires),
                "extends": list(self.extends), "events": list(self.events), "author": self.author}
