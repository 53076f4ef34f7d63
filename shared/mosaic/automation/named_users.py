"""Save-time checks of the users an automation or process definition names: a rule that would
assign records to, or notify, a user the tenant does not have is refused when it is saved (a 422
naming the JSON path), not discovered when it fires. Users are the service's read model of the
tenant's users (:mod:`mosaic.users`); deactivated users are still users."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mosaic.errors import ValidationFailed
from mosaic.users import unknown_users


def named_users(definition: Any, path: str = "") -> list[tuple[str, str]]:
    """``(JSON path, user id)`` of every user the actions anywhere in ``definition`` name (a
    rule's actions, a process's stage and timer actions): round-robin users, territory owners
    and their default, ``notify`` to ``user:<id>``."""
    found: list[tuple[str, str]] = []
    if isinstance(definition, list):
        for i, item in enumerate(definition):
            found += named_users(item, f"{path}[{i}]")
        return found
    if not isinstance(definition, dict):
        return found
    kind = definition.get("type")
    if kind == "assign_owner":
        users = definition.get("users")
        for i, user in enumerate(users if isinstance(users, list) else ()):
            found.append((f"{path}.users[{i}]", user))
        territories = definition.get("territories")
        for key, user in (territories.items() if isinstance(territories, dict) else ()):
            found.append((f"{path}.territories.{key}", user))
        if definition.get("default") is not None:
            found.append((f"{path}.default", definition["default"]))
    elif kind == "notify" and isinstance(definition.get("to"), str) and definition["to"].startswith("user:"):
        found.append((f"{path}.to", definition["to"][len("user:"):]))
    for key, value in definition.items():
        if isinstance(value, (dict, list)) and not (kind == "assign_owner" and key in ("users", "territories")):
            found += named_users(value, f"{path}.{key}" if path else key)
    return found


def check_named_users(session: Session, definition: Any) -> None:
    """Refuse a definition being saved whose actions name a user the tenant does not have
    (:func:`named_users`; deactivated users are users), with a 422 naming each path: a rule
    that would assign records to nobody, or notify nobody, is caught when it is written, not
    when it fires. One query for the whole definition."""
    named = [(p, u) for p, u in named_users(definition) if isinstance(u, str)]
    unknown = unknown_users(session, {u for _, u in named}) if named else set()
    errors = {p: [f"no user {u!r} in this tenant"] for p, u in named if u in unknown}
    if errors:
        raise ValidationFailed("The definition names users this tenant does not have.", errors=errors)
