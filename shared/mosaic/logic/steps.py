"""The write pipeline every record store runs, in order (see :mod:`mosaic.records.pipeline`)."""
from __future__ import annotations

import functools
import importlib

from mosaic.errors import ValidationFailed
from mosaic.records.pipeline import Step, Write

#: the platform's steps, in the order they run
STEP_CLASSES = (
    "mosaic.logic.steps:OpenJobBatch",            # jobs queued by this write are inserted together...
    "mosaic.processes.engine:ProcessStep",        # the stage field: initial stage, moves only by transition
    "mosaic.automation.engine:AutomationStep",    # rules: field updates now, other actions queued
    "mosaic.formulas.step:FormulaStep",             # formula fields computed from the final values
    "mosaic.validation:ValidationStep",           # validation rules
    "mosaic.logic.steps:PluginStep",              # plugins' mosaic_validate_record / mosaic_record_saved
    "mosaic.logic.steps:WriteJobBatch",           # ...here, in one statement
)
_BATCH = "jobs.batch"


class OpenJobBatch(Step):
    """Collects the automation jobs a write queues (rules, stage actions and timers)."""

    def active(self, store, obj) -> bool:
        return False  # does nothing on its own

    def before_write(self, store, w: Write) -> None:
        from mosaic.automation.jobs import open_batch

        w.notes[_BATCH] = open_batch(store.session)


class WriteJobBatch(Step):
    """Inserts the write's jobs in one statement (one round trip instead of one per job)."""

    def active(self, store, obj) -> bool:
        return False

    def after_write(self, store, w: Write) -> None:
        batch = w.notes.pop(_BATCH, None)
        if batch is not None:
            from mosaic.automation.jobs import close_batch

            close_batch(store.session, batch)

    def abort(self, store, w: Write) -> None:
        batch = w.notes.pop(_BATCH, None)
        if batch is not None:
            from mosaic.automation.jobs import close_batch

            close_batch(store.session, batch, write=False)


class PluginStep(Step):
    """Calls the tenant's plugins' write hooks."""

    def active(self, store, obj) -> bool:
        logic = store.logic
        return logic is not None and (logic.implements("mosaic_validate_record")
                                      or logic.implements("mosaic_record_saved"))

    def before_write(self, store, w: Write) -> None:
        logic = store.logic
        if logic is None or not logic.implements("mosaic_validate_record"):
            return
        errors: dict[str, list[str]] = {}
        for result in logic.hook("mosaic_validate_record")(store=store, object_name=w.obj.name,
                                                            values=w.merged, before=w.before):
            for field, messages in (result or {}).items():
                errors.setdefault(field, []).extend([messages] if isinstance(messages, str) else messages)
        if errors:
            raise ValidationFailed("Record is invalid.", errors=errors)

    def after_write(self, store, w: Write) -> None:
        logic = store.logic
        if logic is None or not logic.implements("mosaic_record_saved"):
            return
        logic.hook("mosaic_record_saved")(store=store, object_name=w.obj.name, record=w.after,
                                          before=w.before, action=w.action)


@functools.cache
def default_steps() -> tuple[Step, ...]:
    """One instance of every platform step, built once per process (they keep no per-request
    state); a service's record provider takes them when its container starts."""
    steps = []
    for path in STEP_CLASSES:
        module, _, name = path.partition(":")
        steps.append(getattr(importlib.import_module(module), name)())
    return tuple(steps)


def job_handlers(steps) -> dict:
    """The job kinds ``steps`` queue, with their handlers (``Step.job_handlers``)."""
    handlers: dict = {}
    for step in steps:
        handlers.update(step.job_handlers())
    return handlers


def default_job_handlers() -> dict:
    """The job handlers of the platform's own steps."""
    return job_handlers(default_steps())
