"""Validation rules: conditions in the filter language every saved record must meet.

    rule = compile_validation_rule({"name": "positive_price", "condition": "price > 0",
                                    "message": "Price must be positive.", "field": "price"},
                                   obj, objects)

:class:`ValidationStep` applies a tenant's rules (``store.logic.validation_rules(object)``) in
the write pipeline, after formulas are computed.
"""
from mosaic.validation.rules import RECORD_KEY, ValidationRule, compile_validation_rule
from mosaic.validation.step import ValidationStep

__all__ = ["compile_validation_rule", "ValidationRule", "ValidationStep", "RECORD_KEY"]
