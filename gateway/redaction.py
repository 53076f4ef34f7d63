"""The caller's field permissions on every payload that carries record values, in one place.

A field hidden from a role (``access: none``) must not reach a user with that role by any path:
not through a record, nor through the history, a timeline, the 360° view, a merge, a process
result, an approval, a notification, a plugin's route or a CSV. The services return values as
they are; the gateway removes what the caller may not see, here, by the *shape* of what it
returns, wherever that shape is nested:

* a **record** (``RecordStore.to_api``: a dict with ``"object"``): the object's hidden fields are
  dropped. Records embedded in others (the 360's ``account``, ``relationships[].account``, a
  timeline's ``activity``, a transition's ``record``) are records too;
* a **change** (an audit entry or a timeline ``change`` item, ``"changes": {field: [old, new]}``):
  hidden fields are dropped from ``changes``. Its object is the entry's own ``object``, else the
  object of the URL, else *any* object's hidden fields (over-redacted, never under-redacted);
* an **approval** or a **stage entry** (``"process"`` with ``"from"``/``"to"``): the stages are
  values of the process's field, nulled when that field is hidden (or the process is unknown);
* a **notification** (``"recipient"``, ``"message"``): its text was rendered from a template with
  the record's values. It is matched against the object's ``notify`` templates and the process
  engine's approval messages; the parts that came from hidden fields are masked, and a text that
  matches no known template (a plugin's own, say) is withheld from a caller with hidden fields;
* an **import job** (``"header"`` beside ``"rows_done"``) and its rejected rows
  (:func:`import_errors_filter`): columns that feed a hidden field are left out.

:func:`init_app` applies :func:`redact` to every JSON response, and plugins' RPC results are
redacted before the plugin sees them (``mosaic.plugins.gateway.call``), so what a plugin derives
from a record cannot carry a hidden value either. A caller with no hidden field (most, and every
admin) costs one cached lookup: the response body is not parsed then.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable, Mapping

from flask import Flask, Response, current_app, request

from mosaic.errors import MosaicError

#: what stands in a notification's text for a value of a hidden field
MASK = "•••"
#: a notification's text when it cannot be shown to be free of hidden values
WITHHELD = "(this notification's text shows fields hidden from you)"
#: ``{{field}}`` placeholders, the syntax of mosaic.automation.templates
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
#: templates with more placeholders are not matched (backtracking grows with their number):
#: a text from one is withheld rather than shown
MAX_PLACEHOLDERS = 8
_NOT_A_FIELD = "_"
#: responses redacted (a problem may carry extras: redacted like any answer)
JSON_TYPES = frozenset({"application/json", "application/problem+json"})


class Policy:
    """What one caller may not see: hidden field names per object, and, asked only when a
    notification or a stage of an object with hidden fields is met, the object's definition
    (``describe(name)``: the directory's dict) and its notify templates (``templates(name)``)."""

    def __init__(self, hidden: Mapping[str, Iterable[str]],
                 describe: Callable[[str], dict | None] | None = None,
                 templates: Callable[[str], list[str]] | None = None):
        self.hidden = {obj: frozenset(fields) for obj, fields in hidden.items() if fields}
        self._any = frozenset().union(*self.hidden.values())
        self._describe = describe or (lambda name: None)
        self._templates = templates or (lambda name: [])
        self._memo: dict[tuple[str, str], Any] = {}

    def __bool__(self) -> bool:
        return bool(self.hidden)

    def of(self, obj: str | None) -> frozenset[str]:
        """The hidden fields of ``obj``; of every object when it is unknown (None)."""
        return self._any if obj is None else self.hidden.get(obj, frozenset())

    def describe(self, obj: str) -> dict | None:
        """The object's definition (label, title_field, fields, processes), or None."""
        if ("describe", obj) not in self._memo:
            self._memo[("describe", obj)] = self._describe(obj)
        return self._memo[("describe", obj)]

    def templates(self, obj: str) -> list[tuple[list[str], re.Pattern]]:
        """Compiled ``(placeholder names, pattern)`` of every text a notification about ``obj``
        can be rendered from: its notify templates and the approval messages."""
        if ("templates", obj) not in self._memo:
            compiled = [_compile(_PLACEHOLDER.split(t)) for t in self._templates(obj)]
            compiled += [_compile(parts) for parts in _approval_messages(self.describe(obj))]
            self._memo[("templates", obj)] = [c for c in compiled if c is not None]
        return self._memo[("templates", obj)]


EMPTY = Policy({})


def drop_fields(record: dict | None, hidden: Iterable[str]) -> dict | None:
    """``record`` without the keys in ``hidden`` (the record itself when nothing is hidden)."""
    hidden = frozenset(hidden)
    if record is None or not hidden:
        return record
    return {k: v for k, v in record.items() if k not in hidden}


def redact(value: Any, policy: Policy, obj: str | None = None) -> Any:
    """``value`` (JSON data) with every value ``policy`` hides removed, as a new structure.

    ``obj`` is the object that entries without an ``"object"`` of their own belong to (the URL's
    object: a timeline's ``change`` items)."""
    if not policy:
        return value
    return _walk(value, policy, obj)


def _walk(value: Any, policy: Policy, context: str | None) -> Any:
    if isinstance(value, list):
        return [_walk(item, policy, context) for item in value]
    if not isinstance(value, dict):
        return value
    own = value.get("object") if isinstance(value.get("object"), str) else None
    obj = own or context
    hidden = policy.of(obj)
    out = {}
    for key, item in value.items():
        if own is not None and key in hidden:
            continue
        if key == "changes" and isinstance(item, dict):
            item = {k: v for k, v in item.items() if k not in hidden}
        out[key] = _walk(item, policy, obj)
    if "recipient" in out and isinstance(out.get("message"), str):
        out["message"] = _message(out["message"], policy, own)
    if own is None or not hidden:
        return out
    if "process" in out and ("from" in out or "to" in out):
        _stages(out, policy, own)
    if isinstance(out.get("header"), list) and "rows_done" in out:
        out["header"] = visible_columns(policy, own, out["header"])
    return out


def _stages(entry: dict, policy: Policy, obj: str) -> None:
    """Null an approval's or stage entry's stages when they are values of a hidden field."""
    processes = (policy.describe(obj) or {}).get("processes") or ()
    field = next((p.get("field") for p in processes if p.get("name") == entry.get("process")), None)
    if field is None or field in policy.of(obj):
        for key in ("from", "to"):
            if key in entry:
                entry[key] = None


def _message(message: str, policy: Policy, obj: str | None) -> str:
    """A notification's text with the values of hidden fields masked; withheld when it matches
    no template it can come from (a plugin's own text, say: it may quote any record)."""
    if obj is None:
        return WITHHELD
    hidden = policy.of(obj)
    shown = False
    for names, pattern in policy.templates(obj):
        match = pattern.fullmatch(message)
        if match is None:
            continue
        masked = [i for i, name in enumerate(names) if name in hidden]
        if masked:
            return _mask(message, match, masked)
        shown = True
    return message if shown else WITHHELD


def _mask(message: str, match: re.Match, groups: list[int]) -> str:
    out, last = [], 0
    for i in sorted(groups):
        start, end = match.span(i + 1)
        if start < last:  # a placeholder repeated back to back: already masked
            continue
        out += [message[last:start], MASK]
        last = end
    return "".join(out + [message[last:]])


def _compile(parts: list[str]) -> tuple[list[str], re.Pattern] | None:
    """``[literal, name, literal, name, …, literal]`` as a pattern matching a rendered text."""
    names = parts[1::2]
    if len(names) > MAX_PLACEHOLDERS:
        return None
    pattern = "".join(re.escape(p) if i % 2 == 0 else "(.*?)" for i, p in enumerate(parts))
    return names, re.compile(pattern, re.DOTALL)


def _approval_messages(definition: dict | None) -> list[list[str]]:
    """The texts mosaic.processes.approvals announces approvals with, as template parts (kept in
    step with it: a text that stops matching is withheld, never shown unmasked)."""
    if not definition:
        return []
    label, title = definition.get("label") or definition.get("name", ""), definition.get("title_field") or "id"
    out = []
    for process in definition.get("processes") or ():
        field = process.get("field") or _NOT_A_FIELD
        out.append([f"{label} ", title, ": ", _NOT_A_FIELD, " (", field, " → ", field, ") waits for your approval"])
    if out:
        out.append([f"{label} ", title, ": ", _NOT_A_FIELD, " was ", _NOT_A_FIELD, ""])
    return out


def visible_columns(policy: Policy, obj: str, header: list) -> list:
    """The CSV ``header`` without the columns that feed a hidden field of ``obj`` (a column names
    a field by its name or its label, case-insensitively, as the importer reads it)."""
    hidden = policy.of(obj)
    if not hidden:
        return header
    by_key = {}
    for fd in (policy.describe(obj) or {}).get("fields") or ():
        by_key[fd["name"].lower()] = fd["name"]
        if fd.get("label"):
            by_key.setdefault(fd["label"].strip().lower(), fd["name"])
    keep = []
    for column in header:
        key = str(column).strip().lower()
        if by_key.get(key, key) not in hidden and key not in hidden:
            keep.append(column)
    return keep


# ---------------------------------------------------------------- the gateway's side

def current_policy() -> Policy:
    """The authenticated caller's policy (:data:`EMPTY` for anonymous requests, for admins and
    for every caller without a hidden field), computed once per request."""
    from mosaic_gateway import auth

    store = auth._request_g()
    ident = store.__dict__.get("mosaic_identity")
    if ident is None:
        return EMPTY
    policy = store.__dict__.get("mosaic_redaction")
    if policy is None:
        hidden = auth.hidden_fields_by_object(ident)
        policy = Policy(hidden, _describe, _templates) if hidden else EMPTY
        store.mosaic_redaction = policy
    return policy


def _describe(name: str) -> dict | None:
    from mosaic_gateway.web import context, directory

    try:
        return directory().by_name(context(), name)
    except MosaicError:
        return None


def _templates(name: str) -> list[str]:
    """The ``message`` of every notify action in the definitions (rules, processes) of ``name``;
    [] when they cannot be read (the texts are then withheld)."""
    from mosaic_gateway.web import context, rpc

    obj = _describe(name)
    if obj is None:
        return []
    kinds = ("automation_rule", "process")
    found: list[str] = []
    for result in rpc().call_many([(obj["service"], "list_definitions", kind) for kind in kinds], context()):
        if isinstance(result, MosaicError):
            return []
        for definition in result:
            if isinstance(definition, dict) and definition.get("object") == name:
                _collect_notify(definition, found)
    return found


def _collect_notify(value: Any, found: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _collect_notify(item, found)
    elif isinstance(value, dict):
        if value.get("type") == "notify" and isinstance(value.get("message"), str):
            found.append(value["message"])
        for item in value.values():
            _collect_notify(item, found)


def _url_object() -> str | None:
    """The object of the request's URL (``/api/v1/<path>/…``), when it names one."""
    path = (request.view_args or {}).get("path")
    if not path:
        return None
    from mosaic_gateway.web import context, directory

    try:
        return directory().get(context(), path)["name"]
    except MosaicError:
        return None


def _redact_response(response: Response) -> Response:
    if response.mimetype not in JSON_TYPES or response.is_streamed or response.direct_passthrough:
        return response
    policy = current_policy()
    if not policy:
        return response
    body = json.loads(response.get_data())
    response.set_data(current_app.json.dumps(redact(body, policy, _url_object())))
    return response


def import_errors_filter(obj: str) -> Callable[[dict], dict]:
    """A function that cleans a page of an import's rejected rows (``header``, ``items`` of
    ``raw``, ``errors``) of the columns and errors of ``obj``'s hidden fields; made in the
    request, so it also works in the streamed response's generator."""
    policy = current_policy()
    hidden = policy.of(obj)
    if not hidden:
        return lambda page: page

    def clean(page: dict) -> dict:
        header = visible_columns(policy, obj, page["header"])
        items = [{**item, "raw": {h: item["raw"].get(h, "") for h in header},
                  "errors": {k: v for k, v in item["errors"].items() if k not in hidden}}
                 for item in page["items"]]
        return {**page, "header": header, "items": items}

    return clean


def init_app(app: Flask) -> None:
    """Redact every JSON response of ``app`` for its caller."""
    app.after_request(_redact_response)
