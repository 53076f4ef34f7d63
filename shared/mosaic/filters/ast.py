"""The filter language's syntax tree, and its rendering back to canonical text.

Nodes are immutable and compare by meaning (positions are carried for error messages but do not
take part in equality), so ``parse(render(node)) == node`` holds for every tree the parser builds.
Every node knows its ``depth`` and ``size`` (number of comparisons): the parser checks both limits
while it builds the tree bottom-up, so a hostile filter is refused before any recursion over it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Union

MATCH_MODES = ("contains", "startswith", "endswith")
DIRECTIONS = ("last", "next")
UNITS = ("minutes", "hours", "days", "weeks", "months", "years")


@dataclass(frozen=True)
class FieldRef:
    """A field path: ``name`` or ``name.subpath`` (``price.amount``)."""

    name: str
    subpath: str | None = None
    pos: int = field(default=0, compare=False)

    @property
    def path(self) -> str:
        """The path as written."""
        return f"{self.name}.{self.subpath}" if self.subpath else self.name


@dataclass(frozen=True)
class Value:
    """A literal of ``kind`` string, number, boolean, null, date, datetime, today or now.
    ``value`` is str, int, Decimal, bool, None, date or aware UTC datetime; None for ``today``
    and ``now``, which are resolved against a ``now`` when the filter is compiled or evaluated."""

    kind: str
    value: Any = None
    pos: int = field(default=0, compare=False)


class _Leaf:
    """A single comparison: depth 1, size 1."""

    depth = 1
    size = 1


@dataclass(frozen=True)
class Compare(_Leaf):
    """``field op value``; op is ``= != < <= > >=``, or ``before``/``after`` (dates' ``<``/``>``)."""

    field: FieldRef
    op: str
    value: Value


@dataclass(frozen=True)
class InList(_Leaf):
    """``field in (v, ...)`` or, negated, ``field not in (v, ...)``."""

    field: FieldRef
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class Match(_Leaf):
    """``field contains|startswith|endswith value``."""

    field: FieldRef
    mode: str
    value: Value


@dataclass(frozen=True)
class IsNull(_Leaf):
    """``field is null`` or, negated, ``field is not null``."""

    field: FieldRef
    negated: bool = False


@dataclass(frozen=True)
class Within(_Leaf):
    """``field within last|next <amount> <unit>``."""

    field: FieldRef
    direction: str
    amount: int
    unit: str


@dataclass(frozen=True)
class _Junction:
    """Items joined by one connective; remembers its nesting depth and size for the limits."""

    items: tuple["Node", ...]
    depth: int = field(default=0, compare=False)
    size: int = field(default=0, compare=False)

    def __post_init__(self):
        _measure(self, self.items)


@dataclass(frozen=True)
class And(_Junction):
    """All items are true."""


@dataclass(frozen=True)
class Or(_Junction):
    """At least one item is true."""


@dataclass(frozen=True)
class Not:
    """The item is false (``not unknown`` stays unknown)."""

    item: "Node"
    depth: int = field(default=0, compare=False)
    size: int = field(default=0, compare=False)

    def __post_init__(self):
        _measure(self, (self.item,))


Node = Union[Compare, InList, Match, IsNull, Within, And, Or, Not]
LEAVES = (Compare, InList, Match, IsNull, Within)


def _measure(node: Any, children: tuple) -> None:
    # Frozen dataclass: depth and size are derived once, at construction, from the children.
    object.__setattr__(node, "depth", 1 + max((c.depth for c in children), default=0))
    object.__setattr__(node, "size", sum(c.size for c in children))


def walk(node: Node):
    """Every node of the tree, parents before children (iterative: no recursion limit)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, (And, Or)):
            stack.extend(reversed(current.items))
        elif isinstance(current, Not):
            stack.append(current.item)


# -- rendering -------------------------------------------------------------------------------

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def render_value(value: Value) -> str:
    """One literal in the language's syntax."""
    kind, v = value.kind, value.value
    if kind == "string":
        return '"' + "".join(_ESCAPES.get(ch, ch) for ch in v) + '"'
    if kind == "number":
        return format(v, "f") if isinstance(v, Decimal) else str(v)
    if kind == "boolean":
        return "true" if v else "false"
    if kind == "null":
        return "null"
    if kind == "date":
        return v.isoformat()
    if kind == "datetime":
        text = v.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
        return text + "Z"
    if kind in ("today", "now"):
        return kind
    raise ValueError(f"unknown value kind {kind!r}")


def render(node: Node) -> str:
    """Canonical text of a tree: keywords lower case, minimal parentheses, one space apart."""
    if isinstance(node, Compare):
        return f"{node.field.path} {node.op} {render_value(node.value)}"
    if isinstance(node, InList):
        values = ", ".join(render_value(v) for v in node.values)
        return f"{node.field.path} {'not in' if node.negated else 'in'} ({values})"
    if isinstance(node, Match):
        return f"{node.field.path} {node.mode} {render_value(node.value)}"
    if isinstance(node, IsNull):
        return f"{node.field.path} is {'not null' if node.negated else 'null'}"
    if isinstance(node, Within):
        return f"{node.field.path} within {node.direction} {node.amount} {node.unit}"
    if isinstance(node, And):
        # ``and`` binds tighter than ``or``: only an ``or`` inside needs parentheses.
        return " and ".join(f"({render(i)})" if isinstance(i, Or) else render(i) for i in node.items)
    if isinstance(node, Or):
        return " or ".join(render(i) for i in node.items)
    if isinstance(node, Not):
        inner = render(node.item)
        return f"not ({inner})" if isinstance(node.item, (And, Or)) else f"not {inner}"
    raise TypeError(f"not a filter node: {node!r}")


def make_value(raw: Any) -> Value:
    """A :class:`Value` for a python object (used by code that builds filters, and by tests)."""
    if raw is None:
        return Value("null")
    if isinstance(raw, bool):
        return Value("boolean", raw)
    if isinstance(raw, int):
        return Value("number", raw)
    if isinstance(raw, (float, Decimal)):
        return Value("number", Decimal(str(raw)))
    if isinstance(raw, datetime):
        aware = raw if raw.tzinfo else raw.replace(tzinfo=timezone.utc)
        return Value("datetime", aware.astimezone(timezone.utc))
    if isinstance(raw, date):
        return Value("date", raw)
    if isinstance(raw, str):
        return Value("string", raw)
    raise TypeError(f"no filter literal for {type(raw).__name__}")
