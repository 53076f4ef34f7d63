"""The write-pipeline step that computes formula fields before a record is saved."""
from __future__ import annotations

from typing import TYPE_CHECKING

from mosaic.formulas.order import formula_order
from mosaic.records.pipeline import Step, Write

if TYPE_CHECKING:
    from mosaic.records.store import RecordStore


class FormulaStep(Step):
    """Computes every formula field of the record as it will be saved, in dependency order
    (each result is visible to the formulas after it), and adds the changed results to the
    write's values, so they are stored, audited and sent in events like any field."""

    def active(self, store: "RecordStore", obj) -> bool:
        """Whether ``obj`` has formula fields (for this tenant)."""
        return bool(formula_order(obj))

    def before_write(self, store: "RecordStore", w: Write) -> None:
        """Put the formula fields whose value changes into ``w.values``."""
        order = formula_order(w.obj)  # cached with the definition: one dict lookup when warm
        if not order:
            return
        values = w.merged
        now = store.now()
        for fd, formula in order:
            result = formula.evaluate(values, now)
            if result != values.get(fd.name) or type(result) is not type(values.get(fd.name)):
                w.values[fd.name] = result
            values[fd.name] = result
