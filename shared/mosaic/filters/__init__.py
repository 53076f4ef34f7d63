"""The filter language: one syntax for list queries, segments, rules, validation rules and process
guards, parsed once, compiled to SQL or evaluated in memory with the same answer.

    flt = parse('stage in ("won", "lost") and closed_at within last 30 days', fields)
    query = select(Deal).where(compile_sql(flt, resolve, now, "postgresql"))
    evaluate(flt, record, now)   # the same answer for one record dict

The syntax is documented in ``docs/filters.md``.
"""
from mosaic.filters.ast import render
from mosaic.filters.grammar import MAX_COMPARISONS, MAX_DEPTH, MAX_LENGTH
from mosaic.filters.memory import evaluate
from mosaic.filters.parser import Filter, parse
from mosaic.filters.sql import FieldResolver, IsoDateText, IsoDateTimeText, compile_sql, json_accessor

__all__ = [
    "parse", "compile_sql", "evaluate", "json_accessor", "render", "Filter", "FieldResolver",
    "IsoDateText", "IsoDateTimeText", "MAX_LENGTH", "MAX_COMPARISONS", "MAX_DEPTH",
]
