"""The rows of a CSV import: each cell converted by a plan compiled once per job (each batch is
then sorted by :mod:`mosaic.imports.batches`).

The per-row path is hot (a million rows is a normal import), so it avoids marshmallow: a cell
goes through a small text parser for its type and :func:`mosaic.metadata.values.check_value`,
the same per-field check the record schemas use, so an imported value obeys exactly the rules
an API write does.
"""
from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from marshmallow import ValidationError
from sqlalchemy import String, inspect

from mosaic.errors import MosaicError
from mosaic.metadata.fields import FieldDef, FieldType, ObjectDef
from mosaic.metadata.values import check_value

#: separator of the choices of a multi-picklist cell (commas are common inside choices)
MULTI_SEPARATOR = ";"
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "off"})
REQUIRED = "Missing data for required field."


def _integer(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return Decimal(text)  # "3.0" is 3; check_value refuses a real fraction
    except InvalidOperation:
        raise ValidationError("Not a valid integer.") from None


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValidationError("Not a valid number.") from None
    if not math.isfinite(value):
        raise ValidationError("Must be a finite number.")
    return value


def _boolean(text: str) -> bool:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError("Not a valid boolean: use true/false, yes/no or 1/0.")


def _money(text: str) -> dict:
    """``"1250.50 EUR"``, ``"EUR 1250.50"`` or ``"1250.50"`` (the field's currency)."""
    parts = text.split()
    currency = next((p for p in parts if p.isalpha()), None)
    amounts = [p for p in parts if p is not currency]
    if len(amounts) != 1 or len(parts) > 2:
        raise ValidationError('Not a valid amount: write "1250.50 EUR".')
    out = {"amount": _number(amounts[0])}
    if currency:
        out["currency"] = currency
    return out


def _choices(text: str) -> list[str]:
    return [c.strip() for c in text.split(MULTI_SEPARATOR) if c.strip()]


#: how the text of a cell becomes the value check_value expects; other types take the text as is
PARSERS: dict[FieldType, Callable[[str], Any]] = {
    FieldType.INTEGER: _integer,
    FieldType.DECIMAL: _number,
    FieldType.PERCENT: _number,
    FieldType.BOOLEAN: _boolean,
    FieldType.MONEY: _money,
    FieldType.MULTI_PICKLIST: _choices,
}


def _same(text: str) -> str:
    return text


def _messages(exc: ValidationError) -> list[str]:
    msgs = exc.messages
    if isinstance(msgs, dict):
        return [str(m) for v in msgs.values() for m in (v if isinstance(v, list) else [v])]
    return [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]


def error_dict(exc: MosaicError) -> dict[str, list[str]]:
    """A typed error as per-field messages (the whole row's problem under ``_row``)."""
    if exc.errors:
        return {k: v if isinstance(v, list) else [str(v)] for k, v in exc.errors.items()}
    return {"_row": [exc.detail]}


class RowPlan:
    """How to read one job's rows: per column, its field, parser and limits, compiled once."""

    def __init__(self, obj: ObjectDef, header: list[str], columns: list[str | None]):
        self.obj = obj
        self.header = list(header)
        self.width = len(header)
        self.id_index: int | None = None
        self.cells: list[tuple[int, FieldDef, Callable[[str], Any], int | None]] = []
        model = obj.model
        for index, name in enumerate(columns):
            if name is None:
                continue
            fd = obj.field(name)
            if fd is None:
                raise LookupError(f"column {header[index]!r}: field {name!r} no longer exists")
            if name == "id":
                self.id_index = index
                continue
            self.cells.append((index, fd, PARSERS.get(fd.type, _same), self._column_length(model, fd)))
        given = {fd.name for _, fd, _, _ in self.cells}
        # Defaults go through check_value once here, as load_create would for every record.
        self.defaults = {f.name: check_value(f, f.default) for f in obj.fields
                         if f.default is not None and not f.read_only and f.type is not FieldType.FORMULA}
        self.required = [f.name for f in obj.fields if f.required and not f.read_only
                         and f.name not in self.defaults]
        self.missing_required = [n for n in self.required if n not in given]

    @staticmethod
    def _column_length(model, fd: FieldDef) -> int | None:
        """The column's own length limit, so an over-long value is a row error, not a failed COPY."""
        if model is None or not fd.is_column:
            return None
        column = inspect(model).attrs[fd.attr].columns[0]
        return column.type.length if isinstance(column.type, String) else None

    def record_id(self, cells: list[str]) -> str | None:
        """The ``id`` cell of a row (update matching), if the file has that column."""
        if self.id_index is None or self.id_index >= len(cells):
            return None
        return cells[self.id_index].strip() or None

    def convert(self, cells: list[str]) -> tuple[dict, dict | None]:
        """``(values, errors)``: python values of the row's non-empty cells, and what was wrong.

        An empty cell gives no value: a create then takes the field's default, an update leaves
        the field as it is (a blank cell in a spreadsheet means "nothing to say", not "erase").
        """
        values: dict[str, Any] = {}
        errors: dict[str, list[str]] | None = None
        n = len(cells)
        if n > self.width and any(c.strip() for c in cells[self.width:]):
            errors = {"_row": [f"has {n} values but the header has {self.width} columns"]}
        for index, fd, parse, length in self.cells:
            if index >= n:
                continue
            text = cells[index].strip()
            if not text:
                continue
            try:
                if "\x00" in text:
                    raise ValidationError("Contains a NUL character.")
                value = check_value(fd, parse(text))
                if length is not None and isinstance(value, str) and len(value) > length:
                    raise ValidationError(f"Longer than maximum length {length}.")
                values[fd.name] = value
            except ValidationError as exc:
                if errors is None:
                    errors = {}
                errors[fd.name] = _messages(exc)
        return values, errors

    def complete(self, values: dict) -> tuple[dict, dict | None]:
        """A create's values: defaults for what the row left empty, required fields checked."""
        full = {**self.defaults, **values} if self.defaults else dict(values)
        missing = [n for n in self.required if full.get(n) is None]
        return full, ({n: [REQUIRED] for n in missing} if missing else None)
