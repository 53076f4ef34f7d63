"""Field types and field definitions: the vocabulary of the low-code data platform."""
from __future__ import annotations

import enum


class FieldType(str, enum.Enum):
    """Every type a field of any object may have (DESIGN.md, "Objects and fields").

    How a value is held in a record dict (and in JSON storage):
    text/long_text/email/phone/url/picklist: str; integer: int; decimal/percent: float or
    Decimal-compatible number; money: {"amount": number, "currency": "ISO 4217"}; date: "YYYY-MM-DD";
    datetime: ISO 8601 with offset, normalised to UTC; boolean: bool; multi_picklist: list[str];
    lookup: the referenced record's id (str); formula: computed, read-only.
    """

    TEXT = "text"
    LONG_TEXT = "long_text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"
    PERCENT = "percent"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    PICKLIST = "picklist"
    MULTI_PICKLIST = "multi_picklist"
    LOOKUP = "lookup"
    FORMULA = "formula"

    @property
    def is_textual(self) -> bool:
        return self in TEXTUAL

    @property
    def is_numeric(self) -> bool:
        return self in NUMERIC


TEXTUAL = frozenset({FieldType.TEXT, FieldType.LONG_TEXT, FieldType.EMAIL, FieldType.PHONE,
                     FieldType.URL, FieldType.PICKLIST, FieldType.LOOKUP})
NUMERIC = frozenset({FieldType.INTEGER, FieldType.DECIMAL, FieldType.PERCENT})


import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

#: field and object names: snake_case, letters first; a plugin namespace joins with "__".
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class FieldDef:
    """One field of one object.

    ``storage`` says where values live: ``column`` (a real column of a core object's table, the
    attribute named ``column`` or ``name``) or ``json`` (the object's JSON column: custom fields of
    core objects, and every field of a custom object).
    """

    name: str
    type: FieldType
    label: str = ""
    required: bool = False
    unique: bool = False
    default: Any = None
    min_value: float | None = None
    max_value: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    help_text: str = ""
    indexed: bool = False
    lookup: str | None = None
    currency: str | None = None
    formula: str | None = None
    #: a formula's result type (text, integer, decimal, boolean, date, datetime)
    formula_type: str | None = None
    read_only: bool = False
    storage: str = "json"
    column: str | None = None
    custom: bool = False
    namespace: str | None = None
    #: state of the field's shared index on PostgreSQL (pending, building, ready, failed; None
    #: when not indexed or where nothing is built) and the last build error. Not stored with
    #: the definition: read from ``mosaic.metadata.index_builds`` when the tenant's view loads.
    index_status: str | None = None
    index_error: str | None = None

    @property
    def attr(self) -> str:
        """The ORM attribute of a column field."""
        return self.column or self.name

    @property
    def is_column(self) -> bool:
        return self.storage == "column"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (metadata API, storage, RPC)."""
        out = {}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            if name == "type":
                value = value.value
            elif name == "choices":
                value = list(value)
            elif type(value) not in _PLAIN:  # a default that is a list or a dict: asdict copies it
                return self._as_dict()
            out[name] = value
        return out

    def _as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["type"] = self.type.value
        out["choices"] = list(self.choices)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FieldDef":
        data = dict(data)
        data["type"] = FieldType(data["type"])
        data["choices"] = tuple(data.get("choices") or ())
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def evolve(self, **changes) -> "FieldDef":
        return replace(self, **changes)


#: FieldDef's attributes in order, and the value types its ``to_dict`` keeps as they are (what
#: ``dataclasses.asdict`` would copy the slow way, one recursive call per attribute: ``describe``
#: turns every field of every object of a tenant into a dict)
_FIELD_NAMES = tuple(f.name for f in fields(FieldDef))
_PLAIN = frozenset({str, int, float, bool, type(None)})


@dataclass(frozen=True)
class ObjectDef:
    """One object (core, plugin or custom) as every service and the gateway see it.

    ``model`` is the SQLAlchemy class of a core object (with a ``custom`` JSON column); a custom
    object has none and lives in the service's generic records table.
    """

    name: str
    label: str
    service: str
    fields: tuple[FieldDef, ...]
    plural: str = ""
    kind: str = "core"  # core | custom | plugin
    model: Any = None
    title_field: str = "name"
    actions: tuple[str, ...] = ()
    #: read-only views of a record besides its history, as (name, RPC method of the hosting
    #: service): ``GET …/{id}/{name}`` (a timeline, duplicates, the 360° view)
    views: tuple[tuple[str, str], ...] = ()
    namespace: str | None = None
    description: str = ""
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self._index.update({f.name: f for f in self.fields})

    def field(self, name: str) -> FieldDef | None:
        return self._index.get(name)

    @property
    def path(self) -> str:
        """The URL segment of the object's record API (``contacts``, ``accounts``, ...)."""
        return self.plural or f"{self.name}s"

    @property
    def custom_fields(self) -> tuple[FieldDef, ...]:
        return tuple(f for f in self.fields if f.custom)

    def with_fields(self, extra: tuple[FieldDef, ...] | list[FieldDef]) -> "ObjectDef":
        """This object with more fields (a tenant's custom fields, a plugin's fields)."""
        return replace(self, fields=self.fields + tuple(extra), _index={})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "label": self.label, "plural": self.path, "service": self.service,
            "kind": self.kind, "title_field": self.title_field, "actions": list(self.actions),
            "views": dict(self.views), "namespace": self.namespace, "description": self.description,
            "fields": [f.to_dict() for f in self.fields],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ObjectDef":
        return cls(
            name=data["name"], label=data.get("label") or data["name"], service=data["service"],
            fields=tuple(FieldDef.from_dict(f) for f in data.get("fields", ())),
            plural=data.get("plural") or "", kind=data.get("kind", "custom"),
            title_field=data.get("title_field") or "name", actions=tuple(data.get("actions") or ()),
            views=tuple((data.get("views") or {}).items()), namespace=data.get("namespace"), description=data.get("description") or "",
        )


#: fields every record has, whatever its object; the platform maintains them.
SYSTEM_FIELDS: tuple[FieldDef, ...] = (
    FieldDef("id", FieldType.TEXT, "ID", read_only=True, storage="column"),
    FieldDef("version", FieldType.INTEGER, "Version", read_only=True, storage="column"),
    FieldDef("owner_id", FieldType.TEXT, "Owner", storage="column", indexed=True),
    FieldDef("created_at", FieldType.DATETIME, "Created at", read_only=True, storage="column"),
    FieldDef("updated_at", FieldType.DATETIME, "Updated at", read_only=True, storage="column"),
)
