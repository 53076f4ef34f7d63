"""Actions: what process stages, stage timers and automation rules do, in one JSON vocabulary.

``set_field`` runs inside the write that triggered it (:func:`apply_inline`); every other action
is queued as one automation job in the same transaction (:func:`queue_actions`) and executed
after commit by :mod:`mosaic.automation.execute`.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from marshmallow import ValidationError

from mosaic.automation.jobs import MAX_DEPTH, chain_depth, enqueue
from mosaic.automation.offsets import check_offset
from mosaic.automation.templates import check_template
from mosaic.errors import ValidationFailed
from mosaic.metadata.cache import LRUCache
from mosaic.metadata.fields import FieldDef, FieldType, ObjectDef
from mosaic.metadata.values import check_value, json_safe

if TYPE_CHECKING:
    from mosaic.records.pipeline import Write
    from mosaic.records.store import RecordStore

log = logging.getLogger(__name__)

#: the job kind that runs queued actions
ACTIONS_JOB = "actions"
#: action type -> (required keys, optional keys) besides "type"
KEYS: dict[str, tuple[frozenset, frozenset]] = {
    "set_field": (frozenset({"field"}), frozenset({"value", "formula"})),
    "assign_owner": (frozenset({"strategy"}), frozenset({"users", "field", "territories", "default"})),
    "create_activity": (frozenset({"activity_type"}), frozenset({"subject", "body"})),
    "create_task": (frozenset({"subject"}), frozenset({"due", "body"})),
    "notify": (frozenset({"to", "message"}), frozenset()),
    "webhook": (frozenset({"url"}), frozenset({"secret"})),
    "emit_event": (frozenset({"event"}), frozenset()),
    "transition": (frozenset({"to"}), frozenset({"comment"})),
}
INLINE = frozenset({"set_field"})
_FORMULAS_KEY = ("__automation_formulas__",)  # kept in ObjectDef._index beside field names
MAX_ACTIONS = 50
_EVENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: verbs the record engine emits itself; an automation may not forge them
_RESERVED_EVENTS = frozenset({"created", "updated", "deleted", "merged", "automation"})
_RECIPIENT_RE = re.compile(r"^(owner|user:[^\s:]{1,100}|role:[a-z][a-z0-9_\-]{0,63})$")
#: the formula result types a field of each type takes (money and multi-picklists take none)
_FORMULA_RESULTS: dict[FieldType, frozenset[str]] = {
    **{t: frozenset({"text"}) for t in (FieldType.TEXT, FieldType.LONG_TEXT, FieldType.EMAIL, FieldType.PHONE,
                                        FieldType.URL, FieldType.PICKLIST, FieldType.LOOKUP)},
    FieldType.INTEGER: frozenset({"integer"}),
    FieldType.DECIMAL: frozenset({"integer", "decimal"}),
    FieldType.PERCENT: frozenset({"integer", "decimal"}),
    FieldType.BOOLEAN: frozenset({"boolean"}),
    FieldType.DATE: frozenset({"date"}),
    FieldType.DATETIME: frozenset({"datetime"}),
}
#: fields the platform maintains; an action may set the owner only through assign_owner
_UNSETTABLE = frozenset({"id", "version", "created_at", "updated_at", "owner_id"})


def _formulas():
    """``mosaic.formulas`` if it is installed (imported late: it is optional for this package)."""
    try:
        import mosaic.formulas as formulas  # noqa: PLC0415
    except ImportError:
        return None
    return formulas if hasattr(formulas, "parse_formula") else None


def _nonempty_str(value: Any, limit: int = 200) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= limit


def _check_set_field(a: dict, obj: ObjectDef, path: str) -> dict:
    fd = obj.field(a["field"]) if isinstance(a["field"], str) else None
    if fd is None:
        return {f"{path}.field": [f"unknown field {a['field']!r} of {obj.name}"]}
    if fd.read_only or fd.type is FieldType.FORMULA or fd.name in _UNSETTABLE:
        return {f"{path}.field": [f"{fd.name} cannot be set by an action"]}
    if ("value" in a) == ("formula" in a):
        return {path: ["give exactly one of value or formula"]}
    if "formula" in a:
        if not _nonempty_str(a["formula"], 4000):
            return {f"{path}.formula": ["must be a non-empty string"]}
        formulas = _formulas()
        if formulas is None:
            return {}
        try:
            formula = formulas.parse_formula(a["formula"], {f.name: f for f in obj.fields})
        except ValidationFailed as exc:
            return {f"{path}.formula": _messages(exc)}
        accepted = _FORMULA_RESULTS.get(fd.type, frozenset())
        if formula.result_type not in accepted | {"null"}:
            return {f"{path}.formula": [f"gives {formula.result_type} values; {fd.name} is a {fd.type.value} field"]}
        return {}
    if a["value"] is None:
        return {f"{path}.value": ["is required for this field"]} if fd.required else {}
    try:
        a["value"] = json_safe(check_value(fd, a["value"]))
    except ValidationError as exc:
        return {f"{path}.value": _messages_of(exc.messages)}
    return {}


def _check_assign(a: dict, obj: ObjectDef, path: str) -> dict:
    strategy = a["strategy"]
    if strategy == "round_robin":
        users = a.get("users")
        extra = sorted(set(a) & {"field", "territories", "default"})
        if extra:
            return {f"{path}.{extra[0]}": ["not used by round_robin"]}
        if not isinstance(users, list) or not users or not all(_nonempty_str(u, 64) for u in users):
            return {f"{path}.users": ["must be a non-empty list of user ids"]}
        if len(set(users)) != len(users):
            return {f"{path}.users": ["lists a user twice"]}
        return {}
    if strategy == "territory":
        if "users" in a:
            return {f"{path}.users": ["not used by territory"]}
        fd = obj.field(a.get("field")) if isinstance(a.get("field"), str) else None
        if fd is None:
            return {f"{path}.field": [f"must name a field of {obj.name}"]}
        territories = a.get("territories")
        if not isinstance(territories, dict) or not territories or \
                not all(isinstance(k, str) and _nonempty_str(v, 64) for k, v in territories.items()):
            return {f"{path}.territories": ["must map field values to user ids"]}
        if a.get("default") is not None and not _nonempty_str(a["default"], 64):
            return {f"{path}.default": ["must be a user id"]}
        return {}
    return {f"{path}.strategy": ["must be round_robin or territory"]}


def _activity_types(objects: dict[str, ObjectDef]) -> tuple[str, ...]:
    activity = objects.get("activity")
    fd = activity.field("type") if activity is not None else None
    return fd.choices if fd is not None else ()


def _no_activities(objects: dict, path: str) -> dict:
    """An activity or task is created by the service hosting the rule's object: refuse the
    definition when that service has no activity object, rather than skip the action later."""
    if "activity" in objects:
        return {}
    return {f"{path}.type": ["the service hosting this object has no activities to create; "
                             "use a webhook or an event for another service"]}


def _check_activity(a: dict, obj: ObjectDef, objects: dict, path: str) -> dict:
    errors: dict = _no_activities(objects, path)
    if errors:
        return errors
    kind = a["activity_type"]
    choices = _activity_types(objects)
    if not _nonempty_str(kind, 32):
        errors[f"{path}.activity_type"] = ["must be an activity type"]
    elif choices and kind not in choices:
        errors[f"{path}.activity_type"] = [f"must be one of: {', '.join(choices)}"]
    errors.update(check_template(a.get("subject"), obj, f"{path}.subject", required=False))
    errors.update(check_template(a.get("body"), obj, f"{path}.body", required=False))
    return errors


def _check_task(a: dict, obj: ObjectDef, objects: dict, path: str) -> dict:
    errors = _no_activities(objects, path)
    if errors:
        return errors
    errors = check_template(a.get("subject"), obj, f"{path}.subject", required=True)
    errors.update(check_template(a.get("body"), obj, f"{path}.body", required=False))
    if "due" in a:
        due, bad = check_offset(a["due"], f"{path}.due", allow_negative=False)
        errors.update(bad)
        if due is not None:
            a["due"] = due
    return errors


def _check_webhook(a: dict, path: str) -> dict:
    # The shape only: where the URL points is checked when a definition is saved and again at
    # delivery (mosaic.webhooks.egress); the secret is sealed on save (mosaic.logic.secrets), so
    # here it is a sealed one, or a plain one of a plugin's code or an older definition.
    from mosaic.webhooks.subscriptions import check_url  # noqa: PLC0415 - webhooks builds on us

    problems = check_url(a["url"])
    if problems:
        return {f"{path}.url": problems}
    if a.get("secret") is not None and not _nonempty_str(a["secret"], 200):
        return {f"{path}.secret": ["must be a non-empty string of at most 200 characters"]}
    return {}


def _check_one(a: Any, obj: ObjectDef, objects: dict, path: str) -> dict:
    if not isinstance(a, dict):
        return {path: ["must be an object"]}
    kind = a.get("type")
    if kind not in KEYS:
        return {f"{path}.type": [f"must be one of: {', '.join(KEYS)}"]}
    required, optional = KEYS[kind]
    missing = sorted(required - set(a))
    unknown = sorted(set(a) - required - optional - {"type"})
    if missing or unknown:
        errors = {f"{path}.{k}": ["is required"] for k in missing}
        errors.update({f"{path}.{k}": ["unknown key"] for k in unknown})
        return errors
    if kind == "set_field":
        return _check_set_field(a, obj, path)
    if kind == "assign_owner":
        return _check_assign(a, obj, path)
    if kind == "create_activity":
        return _check_activity(a, obj, objects, path)
    if kind == "create_task":
        return _check_task(a, obj, objects, path)
    if kind == "notify":
        errors = check_template(a["message"], obj, f"{path}.message", required=True)
        if not isinstance(a["to"], str) or not _RECIPIENT_RE.match(a["to"]):
            errors[f"{path}.to"] = ["must be owner, user:<id> or role:<role>"]
        return errors
    if kind == "webhook":
        return _check_webhook(a, path)
    if kind == "emit_event":
        if not isinstance(a["event"], str) or not _EVENT_RE.match(a["event"]):
            return {f"{path}.event": ["must be a snake_case name"]}
        if a["event"] in _RESERVED_EVENTS:
            return {f"{path}.event": [f"{a['event']!r} is emitted by the platform itself"]}
        return {}
    # transition: the process is checked by whoever knows the object's processes
    errors = {} if _nonempty_str(a["to"], 63) else {f"{path}.to": ["must name a stage"]}
    if a.get("comment") is not None and not isinstance(a["comment"], str):
        errors[f"{path}.comment"] = ["must be a string"]
    return errors


def validate_actions(actions: Any, obj: ObjectDef, objects: dict[str, ObjectDef], where: str = "actions") -> list[dict]:
    """The normalised copy of a list of action definitions for records of ``obj``.

    Raises ValidationFailed with every problem under its JSON path (``"<where>[0].field"``).
    ``objects`` (the tenant's objects) is used to check activity types.
    """
    if not isinstance(actions, list):
        raise ValidationFailed("Actions are invalid.", errors={where: ["must be a list of actions"]})
    if len(actions) > MAX_ACTIONS:
        raise ValidationFailed("Actions are invalid.", errors={where: [f"at most {MAX_ACTIONS} actions"]})
    out, errors = [], {}
    for i, action in enumerate(actions):
        copy = dict(action) if isinstance(action, dict) else action
        errors.update(_check_one(copy, obj, objects, f"{where}[{i}]"))
        out.append(copy)
    if errors:
        raise ValidationFailed("Actions are invalid.", errors=errors)
    return out


def split_actions(actions: Iterable[dict]) -> tuple[list[dict], list[dict]]:
    """``(inline, queued)``: the set_field actions a write applies itself, and the rest."""
    inline, queued = [], []
    for a in actions:
        (inline if a["type"] in INLINE else queued).append(a)
    return inline, queued


def _parsed_formula(formulas, obj: ObjectDef, text: str):
    """The parsed formula, cached with the (immutable, per metadata version) object definition,
    so a rule's formula is parsed once, not on every write."""
    cache = obj._index.get(_FORMULAS_KEY)
    if cache is None:
        cache = obj._index[_FORMULAS_KEY] = LRUCache(256)
    formula = cache.get(text)
    if formula is None:
        formula = formulas.parse_formula(text, {f.name: f for f in obj.fields})
        cache.put(text, formula)
    return formula


def field_value(store: "RecordStore", obj: ObjectDef, action: dict, values: dict, now: datetime) -> Any:
    """The python value a set_field action gives its field on a record with ``values``."""
    fd: FieldDef | None = obj.field(action["field"])
    path = f"actions.{action['field']}"
    if fd is None:
        raise ValidationFailed(f"an automation sets {action['field']!r}, which {obj.name} no longer has",
                               errors={path: ["unknown field"]})
    if "formula" in action:
        formulas = _formulas()
        if formulas is None:
            raise ValidationFailed("formulas are not available", errors={path: ["formulas are not available"]})
        value = _parsed_formula(formulas, obj, action["formula"]).evaluate(values, now)
    else:
        value = action.get("value")
    if value is None:
        return None
    try:
        return check_value(fd, value)
    except ValidationError as exc:
        raise ValidationFailed(f"an automation gives {fd.name} a value it does not accept",
                               errors={fd.name: _messages_of(exc.messages)}) from None


def apply_inline(store: "RecordStore", w: "Write", actions: Iterable[dict], now: datetime) -> None:
    """Apply the ``set_field`` actions among ``actions`` to the write ``w`` before it is saved
    (each sees the record with the previous ones applied); other actions are ignored."""
    for action in actions:
        if action["type"] == "set_field":
            w.values[action["field"]] = field_value(store, w.obj, action, w.merged, now)


#: actions that only write to this service's database: inside a write they run at once, in its
#: transaction (atomic with it, so they happen exactly once), instead of as a job
LOCAL_ACTIONS = frozenset({"notify", "emit_event", "create_activity", "create_task"})


def queue_actions(store: "RecordStore", obj: ObjectDef, record_id: str, actions: list[dict], *, source: str,
                  key: str, context: dict | None = None, row=None) -> bool:
    """Run or queue ``actions`` for the record; True if anything ran or was queued.

    With ``row`` (the caller is inside the write that triggered them), the leading actions that
    only write to this database (:data:`LOCAL_ACTIONS`) run now, in the write's transaction; the
    rest, from the first other one on (so the order holds), is queued as ONE job run after
    commit, unless ``source:key`` was queued before (set_field included: there it becomes an
    update of the record).

    ``source`` names what queued them (``"rule"``, ``"process"``); ``context`` is stored with the
    job and shown to the actions (``{"rule": name, "event_id": ...}`` or ``{"process", "stage",
    "timer"}``). Nothing runs or is queued for an empty list, or deeper than ``MAX_DEPTH``
    automations in a chain (the recursion guard).
    """
    if not actions:
        return False
    depth = chain_depth(store)
    if depth >= MAX_DEPTH:
        log.warning(
            "not queueing %s:%s: %d automations in a chain already (a loop?)", source, key, depth)
        return False
    actions = list(actions)
    if row is not None:
        local = 0
        while local < len(actions) and actions[local]["type"] in LOCAL_ACTIONS:
            local += 1
        if local:
            from mosaic.automation.execute import run_inline  # noqa: PLC0415 - execute imports this module

            run_inline(store, obj, row, actions[:local], source=source, key=key, context=dict(context or {}),
                       depth=depth + 1)
            actions = actions[local:]
            if not actions:
                return True
    payload = {"actions": actions, "source": source, "context": dict(context or {}), "depth": depth + 1}
    return enqueue(store.session, ACTIONS_JOB, f"{source}:{key}", object=obj.name, record_id=record_id,
                   payload=payload, run_at=store.now())


def _messages_of(messages: Any) -> list[str]:
    if isinstance(messages, dict):
        return [m for v in messages.values() for m in _messages_of(v)]
    if isinstance(messages, (list, tuple)):
        return [str(m) for m in messages]
    return [str(messages)]


def _messages(exc: ValidationFailed) -> list[str]:
    found = _messages_of(exc.errors) if exc.errors else []
    return found or [exc.detail]
