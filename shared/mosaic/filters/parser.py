"""``parse``: text to a :class:`Filter` checked against an object's fields.

The grammar (:mod:`mosaic.filters.grammar`) knows nothing of fields; here every field path is looked
up and every operator and literal checked against the field's type, so that compiling and evaluating
a :class:`Filter` cannot fail on user input later. All errors of a filter are reported at once.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping

from mosaic.errors import InvalidFilter
from mosaic.filters.ast import (LEAVES, Compare, FieldRef, InList, IsNull, Match, Node, Value, Within,
                                render, render_value, walk)
from mosaic.filters.grammar import parse_tree
from mosaic.metadata.fields import FieldDef, FieldType

# Kinds: how a field's values compare. Every field path maps to exactly one.
TEXT, INTEGER, DECIMAL, BOOLEAN, DATE, DATETIME, TAGS = (
    "text", "integer", "decimal", "boolean", "date", "datetime", "tags")

_KIND_OF_TYPE = {
    FieldType.TEXT: TEXT, FieldType.LONG_TEXT: TEXT, FieldType.EMAIL: TEXT, FieldType.PHONE: TEXT,
    FieldType.URL: TEXT, FieldType.PICKLIST: TEXT, FieldType.LOOKUP: TEXT,
    FieldType.INTEGER: INTEGER, FieldType.DECIMAL: DECIMAL, FieldType.PERCENT: DECIMAL,
    FieldType.BOOLEAN: BOOLEAN, FieldType.DATE: DATE, FieldType.DATETIME: DATETIME,
    FieldType.MULTI_PICKLIST: TAGS,
}

MONEY_PARTS = {"amount": DECIMAL, "currency": TEXT}
#: a formula's result type (``formula_type``) -> its kind; None (no result type) is absent.
_KIND_OF_FORMULA = {t: _KIND_OF_TYPE[FieldType(t)]
                    for t in ("text", "integer", "decimal", "boolean", "date", "datetime")}

_ORDERED = {TEXT, INTEGER, DECIMAL, DATE, DATETIME}
#: literal kinds each field kind accepts.
_ACCEPTS = {
    TEXT: {"string"}, INTEGER: {"number"}, DECIMAL: {"number"}, BOOLEAN: {"boolean"},
    DATE: {"date", "datetime", "today", "now"}, DATETIME: {"date", "datetime", "today", "now"},
    TAGS: {"string"},
}
_DESCRIBE = {TEXT: "a string", INTEGER: "a number", DECIMAL: "a number", BOOLEAN: "true or false",
             DATE: "a date, a datetime, today or now", DATETIME: "a date, a datetime, today or now",
             TAGS: "a string"}


@dataclass(frozen=True)
class Filter:
    """A parsed, checked filter: compile it with :func:`mosaic.filters.compile_sql` or evaluate it
    with :func:`mosaic.filters.evaluate`, any number of times."""

    text: str
    root: Node
    #: the definitions of the fields the filter uses, by name.
    field_defs: Mapping[str, FieldDef] = field(compare=False)

    @property
    def fields(self) -> set[str]:
        """Names of the fields the filter uses (money subpaths count as their field)."""
        return set(self.field_defs)

    def __str__(self) -> str:
        return render(self.root)


def parse(text: str, fields: Mapping[str, FieldDef]) -> Filter:
    """Parse ``text`` and check it against ``fields`` (name -> definition).

    Raises :class:`~mosaic.errors.InvalidFilter` with ``errors={"filter": [messages]}``, each
    message naming the 1-based position, for a syntax error, an unknown field, a value or operator
    that does not fit the field's type, or a filter over the limits (4,096 characters, 100
    comparisons, nesting depth 32).
    """
    root = parse_tree(text)
    problems: list[str] = []
    used: dict[str, FieldDef] = {}
    for node in walk(root):
        if isinstance(node, LEAVES):
            problems.extend(_check(node, fields, used))
    if problems:
        raise InvalidFilter(problems[0] if len(problems) == 1 else f"{len(problems)} problems in filter",
                            errors={"filter": problems})
    return Filter(text=text, root=root, field_defs=used)


def kind_of(field_def: FieldDef, subpath: str | None) -> str | None:
    """The comparison kind of a field path, None if the path does not exist (a subpath of a
    non-money field, an unknown money part) or cannot be filtered (a formula without a result
    type). A formula field compares as its result type: its computed value is stored like a
    field of that type."""
    if field_def.type == FieldType.FORMULA:
        return None if subpath is not None else _KIND_OF_FORMULA.get(field_def.formula_type)
    if field_def.type == FieldType.MONEY:
        # A bare money field means its amount: ``price > 100``.
        return MONEY_PARTS.get(subpath or "amount")
    if subpath is not None:
        return None
    return _KIND_OF_TYPE.get(field_def.type)


def _at(message: str, pos: int) -> str:
    return f"{message} at position {pos + 1}"


def _check(node: Node, fields: Mapping[str, FieldDef], used: dict[str, FieldDef]) -> list[str]:
    ref: FieldRef = node.field
    field_def = fields.get(ref.name)
    if field_def is None:
        close = difflib.get_close_matches(ref.name, list(fields), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return [_at(f"unknown field {ref.path!r}{hint}", ref.pos)]
    if field_def.type == FieldType.FORMULA and field_def.formula_type is None:
        # Without a result type there is nothing to compare its stored values by.
        return [_at(f"formula field {ref.name!r} has no result type and cannot be used in a filter",
                    ref.pos)]
    kind = kind_of(field_def, ref.subpath)
    if kind is None:
        if field_def.type == FieldType.MONEY:
            return [_at(f"unknown field {ref.path!r}: a money field has .amount and .currency", ref.pos)]
        return [_at(f"unknown field {ref.path!r}: {ref.name!r} has no parts", ref.pos)]
    used[ref.name] = field_def
    return _check_operator(node, ref, kind)


def _check_operator(node: Node, ref: FieldRef, kind: str) -> list[str]:
    what = f"{ref.path!r} ({kind})"
    if isinstance(node, IsNull):
        return []
    if isinstance(node, Within):
        if kind not in (DATE, DATETIME):
            return [_at(f"'within' needs a date or datetime field, not {what}", ref.pos)]
        return []
    if isinstance(node, Match):
        if kind == TAGS and node.mode != "contains":
            return [_at(f"{node.mode!r} does not apply to the list field {ref.path!r}; use contains",
                        ref.pos)]
        if kind not in (TEXT, TAGS):
            return [_at(f"{node.mode!r} needs a text field, not {what}", ref.pos)]
        return _check_values(kind, (node.value,), ref)
    if kind == TAGS:
        return [_at(f"the list field {ref.path!r} supports only 'contains' and 'is null'", ref.pos)]
    if isinstance(node, InList):
        return _check_values(kind, node.values, ref)
    assert isinstance(node, Compare)
    if node.op in ("before", "after") and kind not in (DATE, DATETIME):
        return [_at(f"{node.op!r} needs a date or datetime field, not {what}", ref.pos)]
    if node.op not in ("=", "!=") and kind not in _ORDERED:
        return [_at(f"{node.op!r} does not apply to {what}; use = or !=", ref.pos)]
    if node.value.kind == "null":
        fix = "is not null" if node.op == "!=" else "is null"
        return [_at(f"compare with null using '{fix}', not '{node.op} null'", node.value.pos)]
    return _check_values(kind, (node.value,), ref)


def _check_values(kind: str, values: tuple[Value, ...], ref: FieldRef) -> list[str]:
    problems = []
    for value in values:
        if value.kind == "null":
            problems.append(_at("null cannot be a list element or pattern; use 'is null'", value.pos))
        elif value.kind not in _ACCEPTS[kind]:
            problems.append(_at(f"{ref.path!r} ({kind}) needs {_DESCRIBE[kind]}, "
                                f"not {render_value(value)}", value.pos))
        elif value.kind == "number" and not _in_range(kind, value.value):
            problems.append(_at(f"number {render_value(value)} is out of range for {ref.path!r}",
                                value.pos))
    return problems


def _in_range(kind: str, number: int | Decimal) -> bool:
    # Integers bind as 64-bit on both databases; decimals compare as double precision.
    if kind == INTEGER and (isinstance(number, int) or number == number.to_integral_value()):
        return -(2 ** 63) <= number < 2 ** 63
    return math.isfinite(float(Decimal(number)))  # via Decimal: a huge int gives inf, not an error
