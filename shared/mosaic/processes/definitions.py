"""Checking a process definition and compiling it into the :class:`Process` the engine runs.

One function, :func:`compile_process`, serves both the admin API (a PUT is refused with every
problem at its JSON path, ``"transitions[1].guard": [...]``) and the runtime (plugins' and
tenants' definitions become immutable :class:`Process` objects, cached by the tenant's logic).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from mosaic.errors import ValidationFailed
from mosaic.filters import Filter, parse
from mosaic.metadata.fields import NAME_RE, FieldType, ObjectDef

PROCESS_KEYS = frozenset({"name", "label", "description", "object", "field", "initial", "stages",
                          "transitions", "active", "plugin"})
STAGE_KEYS = frozenset({"name", "label", "description", "final", "on_enter", "timers"})
TIMER_KEYS = frozenset({"name", "after", "actions"})
TRANSITION_KEYS = frozenset({"name", "label", "from", "to", "roles", "guard", "guard_message",
                             "approval"})
APPROVAL_KEYS = frozenset({"roles", "users"})
MAX_STAGES = 100
MAX_TRANSITIONS = 200
MAX_LABEL = 120
DEFAULT_GUARD_MESSAGE = "The conditions of this transition are not met."
ANY_STAGE = "*"


@dataclass(frozen=True)
class Timer:
    """Actions that run ``after`` a delay once a record entered a stage (if it is still there)."""

    name: str
    after: dict
    actions: tuple[dict, ...]


@dataclass(frozen=True)
class Stage:
    """One stage: what happens on entering it (``on_enter``) and while in it (``timers``)."""

    name: str
    label: str
    final: bool
    on_enter: tuple[dict, ...]
    timers: tuple[Timer, ...]

    @property
    def inline_actions(self) -> list[dict]:
        """``set_field`` actions: applied in the very write that moves the record here."""
        return [a for a in self.on_enter if a.get("type") == "set_field"]

    @property
    def queued_actions(self) -> list[dict]:
        """Every other on_enter action: queued as automation jobs in the same transaction."""
        return [a for a in self.on_enter if a.get("type") != "set_field"]


@dataclass(frozen=True)
class Transition:
    """An allowed move between stages, who may make it, and under which condition."""

    name: str
    label: str
    from_: tuple[str, ...]
    to: str
    roles: tuple[str, ...]
    guard: Filter | None
    guard_message: str
    approval: dict | None

    def leaves(self, stage: str | None) -> bool:
        """Whether this transition may start from ``stage``."""
        return stage in self.from_


@dataclass(frozen=True)
class Process:
    """A compiled, immutable process: the state machine of one picklist field of one object."""

    name: str
    label: str
    object: str
    field: str
    initial: str
    active: bool
    stages: tuple[Stage, ...]
    transitions: tuple[Transition, ...]
    #: the normalised definition (what the admin API returns and metadata export writes)
    definition: dict

    def stage(self, name: str | None) -> Stage | None:
        """The stage called ``name``, or None."""
        return next((s for s in self.stages if s.name == name), None)

    def transitions_from(self, stage: str | None) -> list[Transition]:
        """The transitions that may start from ``stage``, in definition order."""
        return [t for t in self.transitions if t.leaves(stage)]

    def find(self, to: str | None = None, name: str | None = None,
             from_: str | None = None) -> Transition | None:
        """The transition from ``from_`` named ``name`` and/or leading to ``to``; None if there
        is none. With only ``to``, the first matching transition in definition order wins."""
        for t in self.transitions_from(from_):
            if name is not None and t.name != name:
                continue
            if to is not None and t.to != to:
                continue
            return t
        return None


class _Problems(dict):
    """``{json path: [messages]}``, collected so a definition's author sees every problem at once."""

    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)


def _label(value: Any, path: str, default: str, problems: _Problems) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_LABEL:
        problems.add(path, f"must be a non-empty text of at most {MAX_LABEL} characters")
        return default
    return value


def _name(value: Any, path: str, problems: _Problems) -> str | None:
    if not isinstance(value, str) or not NAME_RE.match(value):
        problems.add(path, "must be lower-case letters, digits and underscores, starting with a "
                           "letter (at most 63 characters)")
        return None
    return value


def _unknown_keys(data: dict, allowed: frozenset[str], prefix: str, problems: _Problems) -> None:
    for key in sorted(set(data) - allowed):
        problems.add(f"{prefix}{key}", "unknown key")


def _named_items(items: list, prefix: str, keys: frozenset[str], what: str, problems: _Problems,
                 scope: str = "") -> Iterator[tuple[str, dict, str | None]]:
    """``(json path, item, checked name)`` of each object in ``items``; reports non-objects,
    unknown keys, bad names and names used twice."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        path = f"{prefix}[{i}]"
        if not isinstance(item, dict):
            problems.add(path, "must be an object")
            continue
        _unknown_keys(item, keys, f"{path}.", problems)
        name = _name(item.get("name"), f"{path}.name", problems)
        if name is not None and name in seen:
            problems.add(f"{path}.name", f"{what} {name!r} is defined twice{scope}")
        if name is not None:
            seen.add(name)
        yield path, item, name


def _string_list(value: Any, path: str, problems: _Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.add(path, "must be a list of non-empty texts")
        return ()
    return tuple(dict.fromkeys(value))


def _actions(value: Any, path: str, obj: ObjectDef, objects: dict[str, ObjectDef],
             stage_names: set[str], field: str | None, problems: _Problems) -> tuple[dict, ...]:
    """Actions checked by the automation package, plus what only a process knows: a
    ``transition`` action must lead to one of its stages, and no ``set_field`` may touch the
    stage field (only a transition moves a record)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add(path, "must be a list of actions")
        return ()
    from mosaic.automation.actions import validate_actions  # the automation package builds on us too

    try:
        actions = validate_actions(value, obj, objects, path)
    except ValidationFailed as exc:
        for key, messages in (exc.errors or {path: [exc.detail]}).items():
            for message in messages if isinstance(messages, list) else [messages]:
                problems.add(key, str(message))
        return ()
    for i, action in enumerate(actions):
        if action.get("type") == "transition" and action.get("to") not in stage_names:
            problems.add(f"{path}[{i}].to", "is not a stage of this process")
        if action.get("type") == "set_field" and field is not None and action.get("field") == field:
            problems.add(f"{path}[{i}].field", "is the process's stage field; use a transition action")
    return tuple(actions)


def _after(value: Any, path: str, problems: _Problems) -> dict:
    from mosaic.automation.offsets import check_offset  # one offset syntax for rules and timers

    after, errors = check_offset(value, path, allow_negative=False)
    for key, messages in errors.items():
        for message in messages:
            problems.add(key, message)
    if after is None:
        return {}
    (unit, amount), = after.items()
    if amount <= 0:
        problems.add(f"{path}.{unit}", "must be more than zero")
        return {}
    return after


def _stages(raw: Any, problems: _Problems) -> list[dict]:
    """The normalised stages (on_enter and timers are checked later, once every name is known)."""
    if not isinstance(raw, list) or not raw:
        problems.add("stages", "must be a non-empty list of stages")
        return []
    if len(raw) > MAX_STAGES:
        problems.add("stages", f"at most {MAX_STAGES} stages")
        return []
    out = []
    for path, stage, name in _named_items(raw, "stages", STAGE_KEYS, "stage", problems):
        final = stage.get("final", False)
        if not isinstance(final, bool):
            problems.add(f"{path}.final", "must be true or false")
        out.append({"name": name, "label": _label(stage.get("label"), f"{path}.label", name or "", problems),
                    "final": final is True, "raw": stage, "path": path})
    return out


def _stage_bodies(stages: list[dict], obj: ObjectDef, objects: dict, field: str | None,
                  problems: _Problems) -> tuple[list[Stage], list[dict]]:
    names = {s["name"] for s in stages if s["name"]}
    compiled, normalised = [], []
    for s in stages:
        raw, path = s["raw"], s["path"]
        on_enter = _actions(raw.get("on_enter"), f"{path}.on_enter", obj, objects, names, field, problems)
        timers, timer_defs = [], []
        raw_timers = raw.get("timers")
        if raw_timers is not None and not isinstance(raw_timers, list):
            problems.add(f"{path}.timers", "must be a list of timers")
            raw_timers = []
        for tpath, timer, tname in _named_items(raw_timers or [], f"{path}.timers", TIMER_KEYS, "timer",
                                                problems, " in this stage"):
            after = _after(timer.get("after"), f"{tpath}.after", problems)
            if not timer.get("actions"):
                problems.add(f"{tpath}.actions", "a timer needs at least one action")
            actions = _actions(timer.get("actions"), f"{tpath}.actions", obj, objects, names, field, problems)
            timers.append(Timer(tname or "", after, actions))
            timer_defs.append({"name": tname, "after": after, "actions": list(actions)})
        compiled.append(Stage(s["name"] or "", s["label"], s["final"], on_enter, tuple(timers)))
        stage_def = {"name": s["name"], "label": s["label"]}
        if s["final"]:
            stage_def["final"] = True
        if on_enter:
            stage_def["on_enter"] = list(on_enter)
        if timer_defs:
            stage_def["timers"] = timer_defs
        normalised.append(stage_def)
    return compiled, normalised


def _approval(value: Any, path: str, problems: _Problems) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(path, "must be an object with roles and/or users")
        return None
    _unknown_keys(value, APPROVAL_KEYS, f"{path}.", problems)
    roles = _string_list(value.get("roles"), f"{path}.roles", problems)
    users = _string_list(value.get("users"), f"{path}.users", problems)
    if not roles and not users:
        problems.add(path, "name at least one approving role or user")
    return {"roles": list(roles), "users": list(users)}


def _transitions(raw: Any, stages: list[Stage], obj: ObjectDef,
                 problems: _Problems) -> tuple[list[Transition], list[dict]]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        problems.add("transitions", "must be a list of transitions")
        return [], []
    if len(raw) > MAX_TRANSITIONS:
        problems.add("transitions", f"at most {MAX_TRANSITIONS} transitions")
        return [], []
    by_name = {s.name: s for s in stages}
    fields = {f.name: f for f in obj.fields}
    compiled, normalised = [], []
    for path, t, name in _named_items(raw, "transitions", TRANSITION_KEYS, "transition", problems):
        to = t.get("to")
        if to not in by_name:
            problems.add(f"{path}.to", "must be a stage of this process")
        from_ = t.get("from")
        if isinstance(from_, str):
            from_ = [from_]
        if not isinstance(from_, list) or not from_ or not all(isinstance(f, str) for f in from_):
            problems.add(f"{path}.from", 'must be a non-empty list of stages, or ["*"] for any stage')
            from_ = []
        if from_ == [ANY_STAGE]:
            # Any stage a record can leave: final stages are where a record stays.
            sources = tuple(s.name for s in stages if not s.final and s.name != to)
        else:
            for f in from_:
                if f not in by_name:
                    problems.add(f"{path}.from", f"{f!r} is not a stage of this process")
                elif by_name[f].final:
                    problems.add(f"{path}.from", f"{f!r} is a final stage; no transition leaves it")
                elif f == to:
                    problems.add(f"{path}.from", f"{f!r} is also the target; a transition must change the stage")
            sources = tuple(dict.fromkeys(from_))
        roles = _string_list(t.get("roles"), f"{path}.roles", problems)
        guard_text, guard = t.get("guard"), None
        if guard_text is not None:
            if not isinstance(guard_text, str) or not guard_text.strip():
                problems.add(f"{path}.guard", "must be a non-empty filter")
            else:
                try:
                    guard = parse(guard_text, fields)
                except ValidationFailed as exc:
                    for message in (exc.errors or {}).get("filter") or [exc.detail]:
                        problems.add(f"{path}.guard", message)
        message = t.get("guard_message")
        if message is not None and (not isinstance(message, str) or not message.strip()):
            problems.add(f"{path}.guard_message", "must be a non-empty text")
            message = None
        approval = _approval(t.get("approval"), f"{path}.approval", problems)
        label = _label(t.get("label"), f"{path}.label", name or "", problems)
        compiled.append(Transition(name or "", label, sources, to or "", roles, guard,
                                   message or DEFAULT_GUARD_MESSAGE, approval))
        entry: dict[str, Any] = {"name": name, "label": label, "from": list(from_), "to": to}
        if roles:
            entry["roles"] = list(roles)
        if guard_text is not None:
            entry["guard"] = guard_text
        if message:
            entry["guard_message"] = message
        if approval:
            entry["approval"] = approval
        normalised.append(entry)
    return compiled, normalised


def compile_process(definition: dict, obj: ObjectDef, objects: dict[str, ObjectDef]) -> Process:
    """Check ``definition`` (a process of ``obj``) and compile it.

    Raises :class:`ValidationFailed` with ``errors={json path: [why]}`` listing every problem:
    unknown keys, bad names, a ``field`` that is not a picklist of ``obj`` offering every stage,
    duplicate stages, timers or transitions, transitions from or to unknown stages, guards that do
    not parse against ``obj``'s fields, empty approvals, and bad actions (checked by
    :func:`mosaic.automation.actions.validate_actions`).
    """
    if not isinstance(definition, dict):
        raise ValidationFailed("A process definition is a JSON object.", errors={"_schema": ["must be an object"]})
    problems = _Problems()
    _unknown_keys(definition, PROCESS_KEYS, "", problems)
    name = _name(definition.get("name"), "name", problems)
    label = _label(definition.get("label"), "label", name or "", problems)
    if definition.get("object", obj.name) != obj.name:
        problems.add("object", f"must be {obj.name!r}, the object this process is defined on")
    field_name = definition.get("field")
    fd = obj.field(field_name) if isinstance(field_name, str) else None
    if fd is None:
        problems.add("field", f"must be a field of {obj.name}")
    elif fd.type is not FieldType.PICKLIST:
        problems.add("field", "must be a picklist field")
        fd = None
    active = definition.get("active", True)
    if not isinstance(active, bool):
        problems.add("active", "must be true or false")
    plugin = definition.get("plugin")
    if plugin is not None and not isinstance(plugin, str):
        problems.add("plugin", "must be a plugin name")
    description = definition.get("description")
    if description is not None and not isinstance(description, str):
        problems.add("description", "must be a text")

    raw_stages = _stages(definition.get("stages"), problems)
    if fd is not None:
        for s in raw_stages:
            if s["name"] and s["name"] not in fd.choices:
                problems.add(f"{s['path']}.name", f"is not a choice of the picklist {fd.name!r}")
    stages, stage_defs = _stage_bodies(raw_stages, obj, objects, field_name, problems)
    initial = definition.get("initial")
    if not any(s.name == initial for s in stages):
        problems.add("initial", "must be one of the stages")
    transitions, transition_defs = _transitions(definition.get("transitions"), stages, obj, problems)
    if problems:
        raise ValidationFailed(f"The process definition has {sum(map(len, problems.values()))} problem(s).",
                               errors=dict(problems))
    normalised: dict[str, Any] = {"name": name, "label": label, "object": obj.name, "field": field_name,
                                  "initial": initial, "stages": stage_defs,
                                  "transitions": transition_defs, "active": active}
    if description:
        normalised["description"] = description
    if plugin:
        normalised["plugin"] = plugin
    return Process(name, label, obj.name, field_name, initial, active, tuple(stages),
                   tuple(transitions), normalised)
