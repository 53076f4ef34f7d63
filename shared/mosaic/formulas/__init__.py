"""Formula fields: a small, typed expression language computed on every write.

    f = parse_formula("price.amount * commission_rate / 100", fields)
    f.result_type            # "decimal"
    f.evaluate(values, now)  # 1234.5, or None when an input is null

The language: numbers, 'text' or "text", true/false/null, field names (a money field as
``price.amount`` / ``price.currency``), ``+ - * /`` and unary minus, ``&`` (join as text),
``= != <> < <= > >=``, ``and``/``or``/``not``, and the functions in :data:`FUNCTIONS` (IF, AND,
OR, NOT, COALESCE, CONCAT, UPPER, LOWER, TRIM, LEN, LEFT, RIGHT, ROUND, FLOOR, CEIL, ABS, MIN,
MAX, TODAY, NOW, DATE, YEAR, MONTH, DAY, ADD_DAYS, DAYS_BETWEEN, TEXT). Types are checked when
the formula is defined; at run time null propagates (IF, AND, OR, COALESCE and CONCAT excepted),
and division by zero, an impossible date or an overflow give null. There is no eval and no
attribute access: a formula reads only the record's own fields and calls only these functions.
"""
from mosaic.formulas.formula import Formula, parse_formula
from mosaic.formulas.functions import FUNCTIONS
from mosaic.formulas.grammar import MAX_DEPTH, MAX_LENGTH, MAX_NODES, references
from mosaic.formulas.order import dependents, formula_order, resolve_formula_fields
from mosaic.formulas.types import RESULT_TYPES

__all__ = [
    "Formula", "parse_formula", "formula_order", "resolve_formula_fields", "dependents",
    "references", "FUNCTIONS", "RESULT_TYPES", "MAX_LENGTH", "MAX_DEPTH", "MAX_NODES",
]
