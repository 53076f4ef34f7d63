"""Matching buyers and properties, as filter-language text (pure functions, no I/O).

The filters are built as text because they go where every filter goes — ``list_records`` over RPC,
the services compile them to SQL — and text is what a user would type, so the matches route can
show the filter it used. Values are rendered as filter literals (quoted and escaped strings,
plain decimal numbers), never pasted in raw, so no value can change the filter's structure.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Iterable, Mapping

from mosaic_realestate.objects import REQUIREMENT_FIELDS

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quote(value: str) -> str:
    """``value`` as a double-quoted filter string, escaped (control characters as ``\\uXXXX``)."""
    out = []
    for ch in str(value):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def number(value: Any) -> str:
    """``value`` as a filter number literal (plain decimal notation, never ``1e+20``).

    Raises ValueError for a value that is not a finite number (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    dec = Decimal(repr(value)) if isinstance(value, float) else value
    if not dec.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    text = format(dec, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def requirement_of(contact: Mapping[str, Any]) -> dict:
    """A contact's buyer requirement by short name (``budget_min``, ``budget_max``, ``districts``,
    ``rooms_min``, ``purpose``), without the parts it leaves empty; ``{}`` if it has none."""
    out = {}
    for short, field in REQUIREMENT_FIELDS.items():
        value = contact.get(field)
        if value is None or value == [] or value == "":
            continue
        out[short] = value
    return out


def _in(field: str, values: Iterable[str]) -> str:
    return f"{field} in ({', '.join(quote(v) for v in values)})"


def property_filter(requirement: Mapping[str, Any]) -> str:
    """Available properties that fit a buyer's ``requirement`` (see :func:`requirement_of`):
    price within the budget, in one of the districts, with at least ``rooms_min`` rooms. Parts the
    requirement leaves out are not checked; ``purpose`` does not narrow the search (every listing
    is for sale)."""
    parts = ['status = "available"']
    if requirement.get("budget_min") is not None:
        parts.append(f"price >= {number(requirement['budget_min'])}")
    if requirement.get("budget_max") is not None:
        parts.append(f"price <= {number(requirement['budget_max'])}")
    districts = [d for d in requirement.get("districts") or () if isinstance(d, str)]
    if districts:
        parts.append(_in("district", sorted(set(districts))))
    if requirement.get("rooms_min") is not None:
        parts.append(f"rooms >= {number(requirement['rooms_min'])}")
    return " and ".join(parts)


#: a contact has a buyer requirement when it states any of these (purpose alone says nothing
#: about which properties fit, so it does not make a contact match every listing)
_STATED = ("budget_min", "budget_max", "districts", "rooms_min")


def buyer_filter(prop: Mapping[str, Any]) -> str:
    """Contacts whose buyer requirement fits property ``prop`` (its ``price``, ``district``,
    ``rooms``): each stated bound is met, an unstated one (null) does not exclude. Only contacts
    that state some requirement match."""
    f = REQUIREMENT_FIELDS
    stated = " or ".join(f"{f[k]} is not null" for k in _STATED)
    parts = [f"({stated})"]
    price = prop.get("price")
    if price is not None:
        p = number(price)
        parts.append(f"({f['budget_min']} is null or {f['budget_min']} <= {p})")
        parts.append(f"({f['budget_max']} is null or {f['budget_max']} >= {p})")
    if prop.get("district"):
        # The language cannot test for an empty list, and [] is a value, not null: a contact
        # whose districts were cleared to [] matches no listing here (property_filter reads []
        # as "any district"); clearing a field to null is the way to say "anywhere".
        parts.append(f"({f['districts']} is null or {f['districts']} contains {quote(prop['district'])})")
    if prop.get("rooms") is not None:
        parts.append(f"({f['rooms_min']} is null or {f['rooms_min']} <= {number(prop['rooms'])})")
    return " and ".join(parts)
