"""The write-pipeline step that applies the tenant's validation rules."""
from __future__ import annotations

from typing import TYPE_CHECKING

from mosaic.errors import ValidationFailed
from mosaic.filters.memory import truth
from mosaic.filters.plan import lower
from mosaic.records.pipeline import Step, Write

if TYPE_CHECKING:
    from mosaic.records.store import RecordStore


class ValidationStep(Step):
    """Refuses a write whose record, as it would be saved, makes a rule's condition false.

    Every failing rule is reported at once (``errors={field or "_record": [messages]}``); a
    condition that is unknown because it reads a null passes, as an SQL CHECK does.
    """

    def active(self, store: "RecordStore", obj) -> bool:
        """Whether the tenant has validation rules on ``obj``."""
        return store.logic is not None and bool(store.logic.validation_rules(obj.name))

    def before_write(self, store: "RecordStore", w: Write) -> None:
        """Raise ValidationFailed listing every rule the record breaks."""
        rules = store.logic.validation_rules(w.obj.name)
        if not rules:
            return
        values, now = w.merged, store.now()
        errors: dict[str, list[str]] = {}
        for rule in rules:
            if not rule.active:
                continue
            if truth(lower(rule.condition, now), values) is False:
                messages = errors.setdefault(rule.error_key, [])
                if rule.message not in messages:
                    messages.append(rule.message)
        if errors:
            raise ValidationFailed("Record is invalid.", errors=errors)
