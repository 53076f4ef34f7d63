"""Roles, the object-permission matrix, and per-field overrides.

The matrix is *data*: ``MATRIX[module][object][role][action]`` is a :class:`Grant` (``all``,
``own`` or ``none``). ``object`` ``"*"`` is the default for every object of the module: core,
plugin and custom objects alike, so a tenant's custom object is governed the moment it exists.
A later issue adds roles (``partner``) or plugin objects with :func:`register_role` and
:func:`grant` instead of editing this file.

A user holding several roles gets the most permissive grant of any of them. ``admin`` (and the
platform's own ``system`` role) may do everything and ignore field restrictions.

Record ownership (``own``) is enforced by the service that holds the record: it gets the caller's
user id and roles in the RPC context and checks ``owner_id`` when :func:`own_only` says so.
"""
from __future__ import annotations

import copy
import enum
import threading
from typing import Any, Iterable, Mapping

ACTIONS = ("read", "create", "update", "delete")


class Grant(str, enum.Enum):
    """How much of an action a role may do; ordered none < own < all."""

    NONE = "none"
    OWN = "own"
    ALL = "all"

    @property
    def rank(self) -> int:
        """Order for "most permissive wins" comparisons."""
        return _RANK[self]


_RANK = {Grant.NONE: 0, Grant.OWN: 1, Grant.ALL: 2}

#: roles known to the platform. ``system`` is not assignable: the platform uses it for its own work.
ROLES: list[str] = ["admin", "manager", "sales", "agent", "marketer", "readonly"]
SUPERUSER_ROLES = frozenset({"admin", "system"})

_A, _O, _N = Grant.ALL, Grant.OWN, Grant.NONE


def _g(read: Grant, create: Grant, update: Grant, delete: Grant) -> dict[str, Grant]:
    return {"read": read, "create": create, "update": update, "delete": delete}


FULL = _g(_A, _A, _A, _A)
WORKER = _g(_A, _A, _O, _O)     # works on records: sees all, changes only what they own
READ = _g(_A, _N, _N, _N)
CREATE = _g(_A, _A, _N, _N)     # may read and file new records (a rep logging a ticket)

#: module -> object ("*" = every object of the module) -> role -> action -> grant. Each service
#: brings its module's defaults in its ``ServiceSpec.grants`` (``mosaic.services`` registers them
#: when the installed services are first read); plugins and later roles add theirs with
#: :func:`grant` and :func:`register_role`.
MATRIX: dict[str, dict[str, dict[str, dict[str, Grant]]]] = {}

#: field-level access levels of a FieldPermission override; absence of a row means read+write.
FIELD_ACCESS = ("none", "read")
_FIELD_RANK = {"none": 0, "read": 1, "write": 2}

_lock = threading.RLock()


def _installed() -> None:
    """Make sure the installed services' module grants are in the matrix."""
    from mosaic import services

    services.installed()


def _grants(module: str, obj: str, role: str) -> Mapping[str, Grant]:
    objects = MATRIX.get(module) or {}
    per_object = objects.get(obj)
    if per_object is not None and role in per_object:
        return per_object[role]
    return (objects.get("*") or {}).get(role, {})


def best_grant(roles: Iterable[str], object: str, action: str, module: str) -> Grant:
    """The most permissive grant any of ``roles`` has for ``action`` on ``object`` of ``module``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    roles = tuple(roles)
    if SUPERUSER_ROLES.intersection(roles):
        return Grant.ALL
    _installed()
    best = Grant.NONE
    for role in roles:
        grant = Grant(_grants(module, object, role).get(action, Grant.NONE))
        if grant.rank > best.rank:
            best = grant
    return best


def can(roles: Iterable[str], object: str, action: str, module: str) -> bool:
    """Whether a caller with ``roles`` may ``action`` (read|create|update|delete) some ``object``
    records of ``module``. True with an ``own`` grant too; see :func:`own_only`."""
    return best_grant(roles, object, action, module) is not Grant.NONE


def own_only(roles: Iterable[str], action: str, object: str, module: str) -> bool:
    """Whether the caller may ``action`` only records whose ``owner_id`` is its own user id."""
    return best_grant(roles, object, action, module) is Grant.OWN


def _field_levels(rows: Iterable[Any], roles: Iterable[str], object: str) -> dict[str, str]:
    """field -> best access level (none|read|write) over the caller's roles, for the fields that
    have at least one override on ``object``."""
    roles = tuple(roles)
    overrides: dict[str, dict[str, str]] = {}
    for row in rows:
        get = row.get if isinstance(row, Mapping) else (lambda k, r=row: getattr(r, k))
        if get("object") != object:
            continue
        overrides.setdefault(get("field"), {})[get("role")] = get("access")
    levels = {}
    for fname, by_role in overrides.items():
        # A role without a row for the field keeps full access: overrides only ever restrict.
        rank = max((_FIELD_RANK.get(by_role.get(r, "write"), 2) for r in roles), default=0)
        levels[fname] = next(k for k, v in _FIELD_RANK.items() if v == rank)
    return levels


def hidden_fields(field_permissions_rows: Iterable[Any], roles: Iterable[str], object: str) -> set[str]:
    """Fields of ``object`` that no role of the caller may read: absent from every response.

    ``field_permissions_rows`` are FieldPermission rows or dicts with object, field, role, access.
    """
    roles = tuple(roles)
    if SUPERUSER_ROLES.intersection(roles):
        return set()
    return {f for f, lvl in _field_levels(field_permissions_rows, roles, object).items() if lvl == "none"}


def readonly_fields(field_permissions_rows: Iterable[Any], roles: Iterable[str], object: str) -> set[str]:
    """Fields of ``object`` the caller may read but not write: a write naming one is refused."""
    roles = tuple(roles)
    if SUPERUSER_ROLES.intersection(roles):
        return set()
    return {f for f, lvl in _field_levels(field_permissions_rows, roles, object).items() if lvl == "read"}


def register_role(role: str, grants: Mapping[str, Mapping[str, Mapping[str, Grant | str]]]) -> None:
    """Add a role (e.g. ``partner``) with its grants: ``{module: {object: {action: grant}}}``."""
    with _lock:
        if role not in ROLES:
            ROLES.append(role)
        for module, objects in grants.items():
            for obj, actions in objects.items():
                grant(module, obj, role, actions)


def grant(module: str, object: str, role: str, actions: Mapping[str, Grant | str]) -> None:
    """Set ``role``'s grants on ``object`` (``"*"``: the module default) of ``module``; actions not
    named keep their module default. Plugins use this for objects that need other rules."""
    bad = set(actions) - set(ACTIONS)
    if bad:
        raise ValueError(f"unknown actions: {', '.join(sorted(bad))}")
    with _lock:
        objects = MATRIX.setdefault(module, {"*": {}})
        current = dict(_grants(module, object, role))
        current.update({a: Grant(g) for a, g in actions.items()})
        for action in ACTIONS:
            current.setdefault(action, Grant.NONE)
        objects.setdefault(object, {})[role] = current


def matrix() -> dict[str, Any]:
    """The matrix as JSON: ``{"roles": [...], "actions": [...], "modules": {module: {object:
    {role: {action: "all"|"own"|"none"}}}}}`` (what ``GET /api/v1/admin/roles`` returns)."""
    _installed()
    with _lock:
        snapshot = copy.deepcopy(MATRIX)
    modules = {
        module: {obj: {role: {a: Grant(g).value for a, g in acts.items()} for role, acts in roles.items()}
                 for obj, roles in objects.items()}
        for module, objects in snapshot.items()
    }
    return {"roles": list(ROLES), "actions": list(ACTIONS), "field_access": list(FIELD_ACCESS),
            "modules": modules}
