"""``parse_formula``: formula text to a checked, compiled :class:`Formula`."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from mosaic.errors import ValidationFailed
from mosaic.formulas.compiler import compile_node
from mosaic.formulas.grammar import fail, parse_tree, walk
from mosaic.formulas.types import DECIMAL, INTEGER, NULL, RESULT_TYPES, Env, Fn, widen
from mosaic.metadata.fields import FieldDef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Formula:
    """A parsed, type-checked formula; evaluate it any number of times."""

    text: str
    #: text, integer, decimal, boolean, date or datetime
    result_type: str
    #: names of the fields the formula reads
    references: frozenset[str]
    _fn: Fn = field(repr=False, compare=False)

    def evaluate(self, values: Mapping[str, Any], now: datetime) -> Any:
        """The formula's value for a record's python ``values`` (a missing key is a null) at
        ``now``: str, int, float, bool, date, aware UTC datetime, or None."""
        try:
            return self._fn(Env(values, now))
        except (ArithmeticError, ValueError, TypeError) as exc:
            # Only a stored value of the wrong shape (written before its field's definition
            # changed) gets here; one odd record must not make every write of it fail.
            log.warning("formula %r gave no value: %s", self.text, exc)
            return None


def parse_formula(text: str, fields: Mapping[str, FieldDef], expect: str | None = None) -> Formula:
    """Parse ``text`` and type-check it against ``fields`` (name -> definition).

    ``expect`` is a declared result type: the formula must give that type (an integer formula
    may be declared decimal; its values are then floats). Raises
    ``ValidationFailed(errors={"formula": [message with position]})``.
    """
    if expect is not None and expect not in RESULT_TYPES:
        message = f"formula_type must be one of {', '.join(RESULT_TYPES)}"
        raise ValidationFailed(message, errors={"formula_type": [message]})
    root = parse_tree(text)
    term = compile_node(root, fields)
    found = term.type
    if expect is None:
        if found == NULL:
            raise fail("the formula is always null; give formula_type or a value", 0)
        result_type = found
    elif found == expect or found == NULL or (found == INTEGER and expect == DECIMAL):
        result_type, term = expect, widen(term, expect)
    else:
        message = f"formula_type is {expect} but the formula gives {found} values"
        raise ValidationFailed(message, errors={"formula_type": [message]})
    refs = frozenset(n.value for n in walk(root) if n.kind == "ref")
    return Formula(text=text, result_type=result_type, references=refs, _fn=term.fn)


def null_formula(text: str, result_type: str | None) -> Formula:
    """A formula that gives null: stands in for one that no longer compiles."""
    return Formula(text=text or "", result_type=result_type or DECIMAL, references=frozenset(),
                   _fn=lambda env: None)
