"""Automation in the write pipeline, on stage entry and on a timer.

* :class:`AutomationStep` matches the created / updated / field_changed rules of every write:
  their ``set_field`` actions change the write itself, the rest is queued (one job per rule and
  event) in the same transaction.
* :func:`fire_stage_entered` is called by the process engine after a record moved.
* :func:`run_scheduled` (a timer) queues scheduled rules for records whose date came due.

Writes made by automation (``action == "automation"``: set_field, assign_owner, created
activities) trigger no rules. Other writes inside a job (a ``transition`` action's move) do, one
link further down a chain that :data:`mosaic.automation.jobs.MAX_DEPTH` cuts, so rules that
trigger each other through stages cannot loop forever.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from sqlalchemy.engine import Engine

from mosaic.automation.actions import apply_inline, queue_actions
from mosaic.automation.jobs import OpenStore
from mosaic.automation.offsets import add_offset, approx_span
from mosaic.automation.rules import Rule
from mosaic.filters import evaluate
from mosaic.filters.dates import iso_datetime
from mosaic.metadata.fields import FieldType, ObjectDef
from mosaic.records.pipeline import Step, Write

if TYPE_CHECKING:
    from mosaic.records.store import RecordStore

log = logging.getLogger(__name__)

NOTE = "automation"
#: a scheduled rule looks back at most this far (a timer that was down catches up this much)
LOOKBACK = timedelta(days=7)
RULE_SOURCE = "rule"


def _ordered(rules: Iterable[Rule]) -> list[Rule]:
    return sorted((r for r in rules if r.active), key=lambda r: (r.order, r.name))


def _write_triggers(rule: Rule, w: Write, changed: set[str]) -> bool:
    kind = rule.kind
    if kind == "created":
        return w.is_create
    if kind == "updated":
        return not w.is_create
    if kind == "field_changed":
        # A new record has no value that "changed": rules for new records use the created trigger.
        return not w.is_create and bool(changed.intersection(rule.trigger["fields"]))
    return False


def _matches(rule: Rule, values: dict, now: datetime) -> bool:
    return rule.condition is None or evaluate(rule.condition, values, now)


class AutomationStep(Step):
    """The pipeline step running the tenant's automation rules on each create and update."""

    def job_handlers(self) -> dict:
        """Rules' queued actions (webhooks, emails, tasks … after the commit)."""
        from mosaic.automation.actions import ACTIONS_JOB
        from mosaic.automation.execute import run_actions_job

        return {ACTIONS_JOB: run_actions_job}

    def active(self, store: "RecordStore", obj: ObjectDef) -> bool:
        """Whether the tenant has any active rule on ``obj``."""
        return store.logic is not None and bool(store.logic.rules(obj.name))

    def before_write(self, store: "RecordStore", w: Write) -> None:
        """Match the write's rules, apply their set_field actions to ``w.values`` in ``order``."""
        if w.action == "automation" or store.logic is None:
            return
        rules = store.logic.rules(w.obj.name)
        if not rules:
            return
        now, changed, matched = store.now(), w.changed(), []
        for rule in _ordered(rules):
            if _write_triggers(rule, w, changed) and _matches(rule, w.merged, now):
                apply_inline(store, w, rule.inline_actions, now)
                matched.append(rule)
        if matched:
            w.notes[NOTE] = matched

    def after_write(self, store: "RecordStore", w: Write) -> None:
        """Queue the other actions of the rules matched before the write, one job per rule."""
        matched = w.notes.get(NOTE)
        if not matched:
            return
        event_id = w.event["id"] if w.event else None
        for rule in matched:
            key = f"{rule.name}:{event_id}" if event_id else f"{rule.name}:{w.row.id}:{w.row.version}"
            queue_actions(store, w.obj, str(w.row.id), rule.queued_actions, source=RULE_SOURCE, key=key,
                          context={"rule": rule.name, "event_id": event_id}, row=w.row)


def fire_stage_entered(store: "RecordStore", obj: ObjectDef, row, process: str, stage: str,
                       event: dict | None) -> int:
    """Queue the actions (set_field included) of the stage_entered rules for ``process``/``stage``
    whose condition holds for ``row`` now; ``event`` is the ``process.stage_entered`` envelope.
    Returns how many rules were queued. Called by the process engine after each move."""
    if store.logic is None:
        return 0
    rules = [r for r in _ordered(store.logic.rules(obj.name)) if r.kind == "stage_entered"
             and r.trigger["process"] == process and r.trigger["stage"] == stage]
    if not rules:
        return 0
    values, now, queued = store.values_of(obj, row), store.now(), 0
    event_id = event["id"] if event else None
    for rule in rules:
        if _matches(rule, values, now):
            key = f"{rule.name}:{event_id}" if event_id else f"{rule.name}:{row.id}:{row.version}"
            queued += queue_actions(store, obj, str(row.id), list(rule.actions), source=RULE_SOURCE, key=key,
                                    context={"rule": rule.name, "event_id": event_id, "process": process,
                                             "stage": stage})
    return queued


# -- scheduled rules ----------------------------------------------------------------------------

def _literal(kind: FieldType, moment: datetime) -> str:
    if kind is FieldType.DATE:
        return moment.date().isoformat()
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(kind: FieldType, raw) -> date | datetime | None:
    if raw is None:
        return None
    if isinstance(raw, (date, datetime)):
        return raw
    return date.fromisoformat(raw) if kind is FieldType.DATE else datetime.fromisoformat(raw)


def queue_scheduled(store: "RecordStore", rule: Rule, since: datetime | None, now: datetime) -> int:
    """Queue ``rule`` (a scheduled rule) for each record whose ``field + offset`` falls in
    ``(max(now - 7 days, since), now]`` and matches the condition; returns how many were new.

    Each (rule, record, field value) is queued once, however often this runs: moving the date
    makes the rule fire again for the new date."""
    obj = store.objects.get(rule.object)
    if obj is None or rule.kind != "scheduled":
        return 0
    fd = obj.field(rule.trigger["field"])
    if fd is None or fd.type not in (FieldType.DATE, FieldType.DATETIME):
        return 0
    offset = rule.trigger["offset"]
    low = max(now - LOOKBACK, since) if since is not None else now - LOOKBACK
    if low >= now:
        return 0
    # field + offset in (low, now]  <=>  field in (low - offset, now - offset]; widened by the
    # slack business days need, then checked exactly below.
    span, slack = approx_span(offset)
    window = (f"{fd.name} >= {_literal(fd.type, low - span - slack)} and "
              f"{fd.name} <= {_literal(fd.type, now - span + slack)}")
    condition = rule.definition.get("condition")
    text = f"({condition}) and {window}" if condition else window
    queued, cursor = 0, None
    while True:
        page = store.list(obj.name, filter=text, sort="id", cursor=cursor, limit=store.max_page,
                          fields=["id", fd.name], now=now)
        for item in page["items"]:
            value = _parse(fd.type, item.get(fd.name))
            if value is None:
                continue
            due = add_offset(value, offset)
            if low < due <= now:
                raw = value.isoformat() if fd.type is FieldType.DATE else iso_datetime(value)
                queued += queue_actions(store, obj, item["id"], list(rule.actions), source=RULE_SOURCE,
                                        key=f"{rule.name}:{item['id']}:{raw}",
                                        context={"rule": rule.name, "due_at": iso_datetime(due)})
        cursor = page["next_cursor"]
        if not cursor:
            return queued


def run_scheduled(engine: Engine, open_store: OpenStore,
                  rules_by_tenant: Mapping[str, Iterable[tuple[Rule, datetime | None]]]
                  | Callable[[], Mapping[str, Iterable[tuple[Rule, datetime | None]]]],
                  *, now: datetime | None = None) -> int:
    """Queue the scheduled rules that came due, every tenant in its own transaction; returns how
    many jobs were queued (the timer then runs them with ``run_due_jobs``).

    ``rules_by_tenant`` maps tenant id -> ``[(rule, active_since)]`` (or is a callable returning
    that mapping): the tenant's active rules (others are ignored) with the moment each became
    active (None: unknown, look back the full 7 days). ``engine`` is unused by this function but
    kept so every timer entry point has one signature. One tenant's failure is logged and does
    not stop the others.
    """
    del engine  # each tenant's store comes from open_store
    now = now or datetime.now(timezone.utc)
    mapping = rules_by_tenant() if callable(rules_by_tenant) else rules_by_tenant
    total = 0
    for tenant_id, entries in mapping.items():
        scheduled = [(r, since) for r, since in entries if r.active and r.kind == "scheduled"]
        if not scheduled:
            continue
        try:
            with open_store(tenant_id) as store:
                store.clock = lambda: now
                try:
                    count = sum(queue_scheduled(store, rule, since, now) for rule, since in scheduled)
                    store.session.commit()
                except BaseException:
                    store.session.rollback()
                    raise
            total += count
        except Exception:  # noqa: BLE001 - one tenant's bad data must not stop the others
            log.exception("scheduled automation failed for tenant %s", tenant_id)
    return total
