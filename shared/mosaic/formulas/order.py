"""Formula fields of an object in dependency order, for computing them and for checking new or
changed definitions (result types inferred, cycles refused)."""
from __future__ import annotations

import logging
from graphlib import CycleError, TopologicalSorter
from typing import Collection, Sequence

from mosaic.errors import ValidationFailed
from mosaic.formulas.formula import Formula, null_formula, parse_formula
from mosaic.formulas.grammar import references
from mosaic.metadata.fields import FieldDef, FieldType, ObjectDef

log = logging.getLogger(__name__)

_ORDER_KEY = ("__formulas__",)  # kept in ObjectDef._index beside the field names (strings)


def _formula_graph(fields: Sequence[FieldDef]) -> tuple[dict[str, FieldDef], dict[str, set[str]],
                                                        dict[str, str]]:
    """Formula fields by name, each one's formula dependencies, and syntax errors by name."""
    formulas = {f.name: f for f in fields if f.type is FieldType.FORMULA}
    deps: dict[str, set[str]] = {}
    broken: dict[str, str] = {}
    for name, fd in formulas.items():
        try:
            deps[name] = references(fd.formula or "") & formulas.keys()
        except ValidationFailed as exc:
            broken[name] = exc.errors.get("formula", [exc.detail])[0]
            deps[name] = set()
    return formulas, deps, broken


def _cycle_message(cycle: list[str]) -> str:
    if len(cycle) == 2:  # graphlib reports a self-loop as [a, a]
        return f"the formula of {cycle[0]!r} refers to its own field"
    return "formula fields depend on each other: " + " -> ".join(cycle)


def _order(deps: dict[str, set[str]]) -> list[str]:
    try:
        return list(TopologicalSorter(deps).static_order())
    except CycleError as exc:
        cycle = list(exc.args[1])
        message = _cycle_message(cycle)
        raise ValidationFailed(message, errors={"formula": [message]}, fields=sorted(set(cycle))) from None


def formula_order(obj: ObjectDef) -> list[tuple[FieldDef, Formula]]:
    """The formula fields of ``obj`` with their compiled formulas, each after the formulas it
    reads; cached with the (immutable) definition. A cycle raises ValidationFailed naming the
    fields. A formula that no longer compiles (a field it read was removed, a plugin disabled)
    gives null rather than blocking every write of the object; it is logged."""
    cached = obj._index.get(_ORDER_KEY)
    if cached is not None:
        return cached
    formulas, deps, broken = _formula_graph(obj.fields)
    if not formulas:
        obj._index[_ORDER_KEY] = []
        return []
    by_name = {f.name: f for f in obj.fields}
    out = []
    for name in _order(deps):
        fd = formulas[name]
        try:
            if name in broken:
                raise ValidationFailed(broken[name])
            formula = parse_formula(fd.formula or "", by_name, expect=fd.formula_type)
        except ValidationFailed as exc:
            log.warning("formula field %s.%s is broken and gives null: %s", obj.name, name,
                        exc.errors or exc.detail)
            formula = null_formula(fd.formula or "", fd.formula_type)
        out.append((fd, formula))
    obj._index[_ORDER_KEY] = out
    return out


def dependents(fields: Sequence[FieldDef], name: str) -> list[str]:
    """Names of the formula fields that read ``name``, directly or through other formulas."""
    formulas, deps, _ = _formula_graph(fields)
    direct = {n for n, fd in formulas.items() if name in _safe_refs(fd)}
    found, todo = set(direct), list(direct)
    while todo:
        current = todo.pop()
        for other, needs in deps.items():
            if current in needs and other not in found:
                found.add(other)
                todo.append(other)
    found.discard(name)
    return sorted(found)


def _safe_refs(fd: FieldDef) -> set[str]:
    try:
        return references(fd.formula or "")
    except ValidationFailed:
        return set()


def resolve_formula_fields(fields: Sequence[FieldDef], check: Collection[str]) -> dict[str, FieldDef]:
    """Type-check the formula fields named in ``check`` against all of ``fields`` (an object's
    fields with the new or changed definitions in place), with every formula that depends on
    them; returns the checked definitions by name, ``formula_type`` inferred (or confirmed when
    given).

    Raises ``ValidationFailed(errors={field name: [why]})`` for a formula that does not parse or
    type-check, a cycle (a formula reading its own field included), or a dependent formula that
    no longer type-checks with its stored result type.
    """
    formulas, deps, broken = _formula_graph(fields)
    errors: dict[str, list[str]] = {n: [m] for n, m in broken.items() if n in check}
    todo = set(check) | {d for n in check for d in dependents(fields, n)}
    todo &= formulas.keys()
    try:
        order = _order({n: deps[n] for n in formulas})
    except ValidationFailed as exc:
        cycle = set(exc.extra.get("fields", ()))
        for n in sorted(cycle & todo) or sorted(cycle):
            errors.setdefault(n, []).append(exc.detail)
        raise ValidationFailed("Formula fields are invalid.", errors=errors) from None
    by_name = {f.name: f for f in fields}
    failed: set[str] = set(errors)
    for name in order:
        if name not in todo or name in failed:
            continue
        if deps[name] & failed:
            failed.add(name)  # its own error would only repeat the one it depends on
            continue
        fd = by_name[name]
        try:
            formula = parse_formula(fd.formula or "", by_name, expect=fd.formula_type)
        except ValidationFailed as exc:
            messages = [m for msgs in exc.errors.values() for m in msgs] or [exc.detail]
            if name not in check:
                messages = [f"the formula of {name!r} no longer works: {m}" for m in messages]
            errors.setdefault(name, []).extend(messages)
            failed.add(name)
            continue
        by_name[name] = fd.evolve(formula_type=formula.result_type)
    if errors:
        raise ValidationFailed("Formula fields are invalid.", errors=errors)
    return {n: by_name[n] for n in check if n in formulas}
