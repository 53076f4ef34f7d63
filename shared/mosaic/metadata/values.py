"""Record values, one type at a time: checking what a caller sends, and the JSON storage form.

:func:`check_value` is the single place a value of a field is checked and converted; the
marshmallow schemas of :mod:`mosaic.metadata.schema_factory` and the validation of a field's
``default`` in :mod:`mosaic.metadata.definitions` both call it, so a default can never be a value
the field itself would refuse.
"""
from __future__ import annotations

import math
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable

import re2
from marshmallow import ValidationError
from marshmallow import validate as mv

from mosaic.metadata.fields import FieldDef, FieldType

#: the longest value each string type takes when the field sets no ``max_length``. Text stays
#: under PostgreSQL's btree row limit (2704 bytes) even at 4 bytes a character, so an indexed
#: text field can never make an insert fail.
TEXT_CAPS: dict[FieldType, int] = {
    FieldType.TEXT: 255,
    FieldType.LONG_TEXT: 100_000,
    FieldType.EMAIL: 254,
    FieldType.PHONE: 40,
    FieldType.URL: 2048,
    FieldType.PICKLIST: 255,
    FieldType.LOOKUP: 255,
}
#: integers are stored in JSON and in BIGINT columns: keep them in the 64-bit range.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PHONE_RE = re.compile(r"^\+?[0-9 ().\-/]+$")
_EMAIL = mv.Email(error="Not a valid email address.")
_URL = mv.URL(relative=False, schemes={"http", "https"}, require_tld=False,
              error="Not a valid http(s) URL.")
_MAX_CHOICES_SHOWN = 20


#: the most memory RE2 may use for one pattern (its default is 8 MiB; a field's pattern is short)
PATTERN_MAX_MEM = 4 << 20


class UnsupportedPattern(ValueError):
    """A field pattern the linear-time engine cannot run (back-references, look-arounds, ...)."""


def _re2_options() -> "re2.Options":
    options = re2.Options()
    options.max_mem = PATTERN_MAX_MEM
    options.log_errors = False  # a refused pattern is the caller's 422, not a log line
    return options


@lru_cache(maxsize=1024)
def compiled_pattern(pattern: str) -> "re2._Regexp":
    """``pattern`` compiled once per process by RE2, whose matching time is linear in the value
    (Python's ``re`` backtracks: one pattern like ``(a+)+$`` would stall a worker for every
    tenant). Raises :class:`UnsupportedPattern` with RE2's reason for a pattern it cannot run."""
    try:
        return re2.compile(pattern, _re2_options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise UnsupportedPattern(str(reason)) from None


def _number(value: Any, message: str) -> float | int | Decimal:
    # bool is an int subclass: True must not pass as 1.
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValidationError(message)
    if not isinstance(value, int) and not math.isfinite(value):
        raise ValidationError("Must be a finite number.")
    return value


def _bounds(f: FieldDef, value: float | int) -> None:
    if f.min_value is not None and value < f.min_value:
        raise ValidationError(f"Must be greater than or equal to {f.min_value:g}.")
    if f.max_value is not None and value > f.max_value:
        raise ValidationError(f"Must be less than or equal to {f.max_value:g}.")


def _string(f: FieldDef, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("Not a valid string.")
    if f.required and not value.strip():
        raise ValidationError("Field may not be blank.")
    return value


def _lengths_and_pattern(f: FieldDef, value: str) -> str:
    messages = []
    limit = f.max_length if f.max_length is not None else TEXT_CAPS.get(f.type)
    if f.min_length is not None and len(value) < f.min_length:
        messages.append(f"Shorter than minimum length {f.min_length}.")
    if limit is not None and len(value) > limit:
        messages.append(f"Longer than maximum length {limit}.")
    # fullmatch: an admin's pattern "[A-Z]{3}-\d+" describes the whole value, not a substring.
    if f.pattern and not messages:
        try:
            matched = compiled_pattern(f.pattern).fullmatch(value)
        except UnsupportedPattern:
            # Stored before patterns were checked by RE2: refuse the value, never run the
            # pattern under a backtracking engine.
            raise ValidationError(f"The field's pattern {f.pattern} is no longer supported; "
                                  "an administrator must change it.") from None
        if not matched:
            messages.append(f"Does not match the pattern {f.pattern}.")
    if messages:
        raise ValidationError(messages)
    return value


def _text(f: FieldDef, value: Any) -> str:
    return _lengths_and_pattern(f, _string(f, value))


def _integer(f: FieldDef, value: Any) -> int:
    value = _number(value, "Not a valid integer.")
    if not isinstance(value, int):
        # JSON clients send 3.0 for 3; a fraction is a real error.
        if value != int(value):
            raise ValidationError("Not a valid integer.")
        value = int(value)
    if not INT_MIN <= value <= INT_MAX:
        raise ValidationError("Integer out of range.")
    _bounds(f, value)
    return value


def _decimal(f: FieldDef, value: Any) -> float:
    value = float(_number(value, "Not a valid number."))
    _bounds(f, value)
    return value


def _money(f: FieldDef, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError('Not a valid amount: send {"amount": number, "currency": "EUR"}.')
    unknown = sorted(set(value) - {"amount", "currency"})
    if unknown:
        raise ValidationError(f"Unknown keys: {', '.join(map(str, unknown))}.")
    if value.get("amount") is None:
        raise ValidationError("The amount is required.")
    amount = float(_number(value["amount"], "The amount is not a valid number."))
    currency = value.get("currency") or f.currency
    if currency is None:
        raise ValidationError("The currency is required.")
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency.upper()):
        raise ValidationError("The currency must be a 3-letter ISO 4217 code.")
    _bounds(f, amount)
    return {"amount": amount, "currency": currency.upper()}


def _date(f: FieldDef, value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise ValidationError("Not a valid date: use YYYY-MM-DD.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError("Not a valid date.") from None


def _datetime(f: FieldDef, value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and 10 < len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError("Not a valid ISO 8601 datetime.") from None
    else:
        raise ValidationError("Not a valid ISO 8601 datetime.")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        # A time without an offset means different instants to different callers.
        raise ValidationError("The datetime needs a time zone offset (e.g. Z or +02:00).")
    return parsed.astimezone(timezone.utc)


def _boolean(f: FieldDef, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("Not a valid boolean.")
    return value


def _email(f: FieldDef, value: Any) -> str:
    value = _string(f, value).strip()
    _lengths_and_pattern(f, value)
    _EMAIL(value)
    local, _, domain = value.rpartition("@")
    # The local part may be case-sensitive (RFC 5321); the domain never is.
    return f"{local}@{domain.lower()}"


def _phone(f: FieldDef, value: Any) -> str:
    value = _string(f, value).strip()
    if not _PHONE_RE.match(value) or len(value) > TEXT_CAPS[FieldType.PHONE]:
        raise ValidationError("Not a valid phone number.")
    digits = re.sub(r"\D", "", value)
    if not 6 <= len(digits) <= 20:
        raise ValidationError("A phone number has 6 to 20 digits.")
    normalised = ("+" if value.startswith("+") else "") + digits
    return _lengths_and_pattern(f, normalised)


def _url(f: FieldDef, value: Any) -> str:
    value = _lengths_and_pattern(f, _string(f, value).strip())
    _URL(value)
    return value


def _picklist(f: FieldDef, value: Any) -> str:
    if not isinstance(value, str) or value not in f.choices:
        raise ValidationError(f"Must be one of: {_choices(f)}.")
    return value


def _multi_picklist(f: FieldDef, value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise ValidationError("Not a valid list of choices.")
    if not f.choices:  # an open list (tags): any short, non-empty labels
        bad = [v for v in value if not isinstance(v, str) or not v.strip() or len(v) > 64]
        if bad or len(value) > 100:
            raise ValidationError("Must be a list of at most 100 labels of 1 to 64 characters.")
        if len(set(value)) != len(value):
            raise ValidationError("Each label may appear once.")
        return [v.strip() for v in value]
    bad = [v for v in value if not isinstance(v, str) or v not in f.choices]
    if bad:
        raise ValidationError(f"Not allowed: {', '.join(map(str, bad))}. "
                              f"Must be among: {_choices(f)}.")
    if len(set(value)) != len(value):
        raise ValidationError("Each choice may appear once.")
    return list(value)


def _lookup(f: FieldDef, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Not a valid record id.")
    value = value.strip()
    if len(value) > TEXT_CAPS[FieldType.LOOKUP]:
        raise ValidationError("Not a valid record id.")
    return value


def _read_only(f: FieldDef, value: Any) -> Any:
    raise ValidationError("Read-only field.")


def _choices(f: FieldDef) -> str:
    shown = ", ".join(f.choices[:_MAX_CHOICES_SHOWN])
    return shown + (", ..." if len(f.choices) > _MAX_CHOICES_SHOWN else "")


CHECKS: dict[FieldType, Callable[[FieldDef, Any], Any]] = {
    FieldType.TEXT: _text,
    FieldType.LONG_TEXT: _text,
    FieldType.INTEGER: _integer,
    FieldType.DECIMAL: _decimal,
    FieldType.PERCENT: _decimal,
    FieldType.MONEY: _money,
    FieldType.DATE: _date,
    FieldType.DATETIME: _datetime,
    FieldType.BOOLEAN: _boolean,
    FieldType.EMAIL: _email,
    FieldType.PHONE: _phone,
    FieldType.URL: _url,
    FieldType.PICKLIST: _picklist,
    FieldType.MULTI_PICKLIST: _multi_picklist,
    FieldType.LOOKUP: _lookup,
    FieldType.FORMULA: _read_only,
}


def check_value(field: FieldDef, value: Any) -> Any:
    """``value`` checked and converted for ``field`` (not None: nullability is the schema's).

    Raises ``marshmallow.ValidationError`` with the reasons; returns the Python value (``date``,
    aware UTC ``datetime``, ``float`` for decimals, a money dict, ...).
    """
    if field.read_only:
        return _read_only(field, value)
    return CHECKS[field.type](field, value)


def format_datetime(value: datetime) -> str:
    """The fixed-width UTC form ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``: strings of this form sort
    as their instants do, so JSON-stored datetimes can be compared and indexed as text."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") \
        + "+00:00"


def value_type(field: FieldDef) -> FieldType:
    """The type ``field``'s values have: its own, or for a formula its result type (a formula
    without one is treated as text)."""
    if field.type is FieldType.FORMULA:
        return FieldType(field.formula_type) if field.formula_type else FieldType.TEXT
    return field.type


def to_json_value(field: FieldDef, value: Any) -> Any:
    """The JSON storage form of a checked Python value of ``field``."""
    if value is None:
        return None
    kind = value_type(field)
    if kind is FieldType.DATETIME and isinstance(value, datetime):
        return format_datetime(value)
    if kind is FieldType.DATE and isinstance(value, date):
        return value.isoformat()
    return json_safe(value)


def from_json_value(field: FieldDef, value: Any) -> Any:
    """The Python value of ``field`` from its JSON storage form.

    Tolerant by design: a value stored before the field's definition changed is returned as it
    is rather than failing a read (validation applies again on the next write).
    """
    if value is None:
        return None
    kind = value_type(field)
    try:
        if kind is FieldType.DATE and isinstance(value, str):
            return date.fromisoformat(value)
        if kind is FieldType.DATETIME and isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None \
                else parsed.astimezone(timezone.utc)
    except ValueError:
        return value
    return value


def to_api_value(field: FieldDef, value: Any) -> Any:
    """A JSON-safe value of ``field`` for API output (dates and datetimes as ISO strings; a
    formula's value shown as its result type, the same way)."""
    return json_safe(value)


#: types json_safe returns as they are (checked first: most values of a record are these)
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_safe(value: Any) -> Any:
    """``value`` with dates, datetimes, Decimals, tuples and sets turned into JSON types."""
    if type(value) in _JSON_SCALARS:
        return value
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    return value

