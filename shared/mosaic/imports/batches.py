"""A batch of an import's rows sorted by the job's dedup policy into creates, updates, skips and
per-row errors, with one query per concern per batch: existing ids, the behaviour's match keys,
look-alike names, unique values, lookups, owners, and the records the rows name here or in
another service. The cells were converted by :class:`mosaic.imports.rows.RowPlan`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select

from mosaic.errors import MosaicError
from mosaic.metadata.fields import FieldDef, FieldType, ObjectDef
from mosaic.metadata.values import json_safe, to_json_value
from mosaic.imports.rows import RowPlan, error_dict
from mosaic.records.checks import RELATED_ID, RELATED_OBJECT, half_pair_errors
from mosaic.records.models import Record
from mosaic.records.store import RecordStore
from mosaic.users.directory import OWNER, owner_error, unknown_users


@dataclass
class Create:
    row: int
    cells: list[str]
    values: dict
    #: the hidden key columns when the match already computed them from these values
    hidden: dict | None = None


@dataclass
class Update:
    row: int
    cells: list[str]
    record_id: str
    values: dict


@dataclass
class Sorted:
    """What one batch comes to."""

    creates: list[Create] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    merged: int = 0
    skipped: int = 0
    errors: list[tuple[int, list[str], dict]] = field(default_factory=list)


class BatchSorter:
    """Sorts a batch of rows by the job's dedup policy, with one lookup query per concern."""

    def __init__(self, store: RecordStore, obj: ObjectDef, plan: RowPlan, policy: str, threshold: int = 90):
        self.store, self.obj, self.plan, self.policy = store, obj, plan, policy
        self.threshold = threshold
        self.behaviour = store.behaviours.get(obj.name)
        self.model = obj.model if obj.model is not None else Record
        # What the object's behaviour says identifies the same record: hidden key columns (in
        # match order), and a blocking column whose look-alikes a fuzzy score decides.
        behaviour = self.behaviour
        self.match_keys = tuple(behaviour.match_keys) if behaviour is not None else ()
        self.fuzzy_key = behaviour.fuzzy_key if behaviour is not None else None
        self.companion = behaviour.fuzzy_companion if behaviour is not None else None
        self.unique = [f for f in obj.fields if f.unique and not f.read_only]
        self.lookups = [f for f in obj.fields if f.type is FieldType.LOOKUP and f.lookup in store.objects]
        #: lookups to objects another service hosts, asked of it (``mosaic.records.references``)
        self.remote_lookups = [f for f in obj.fields
                               if f.type is FieldType.LOOKUP and f.lookup and f.lookup not in store.objects]
        #: whether rows name a record by a ``related_object``/``related_id`` pair
        self.related = obj.field(RELATED_OBJECT) is not None and obj.field(RELATED_ID) is not None
        #: the batch's owners that are no users of the tenant (``mosaic.users``)
        self.bad_owners: set[str] = set()
        #: (object, record id) the batch names -> None if it exists, else "object" or "record"
        self.named: dict[tuple[str, str], str | None] = {}

    def sort(self, rows: list[tuple[int, list[str]]]) -> Sorted:
        """``rows`` are ``(row number, cells)`` in file order."""
        out = Sorted()
        converted = []
        for number, cells in rows:
            values, errors = self.plan.convert(cells)
            if errors:
                out.errors.append((number, cells, errors))
                continue
            # The match keys are the behaviour's hidden columns; computed here with the defaults
            # a create would add, so a new record reuses them instead of computing them again.
            keys = self._keys({**self.plan.defaults, **values} if self.plan.defaults else values)
            converted.append((number, cells, self.plan.record_id(cells), values, keys))
        known_ids = self._existing_ids({c[2] for c in converted if c[2]})
        by_key = self._existing_keys(converted)
        by_name = self._existing_names(converted)
        pending_names: dict[str, list[tuple[int, str | None]]] = {}
        taken = self._existing_unique(converted)
        refs = self._existing_refs(converted)
        self.named = self._named_records(converted)
        # owners: one query for the batch (the caller, who owns by default, is a user already)
        self.bad_owners = unknown_users(self.store.session, {c[3].get(OWNER) for c in converted} - {self.store.ctx.user_id})
        pending_by: dict[str, dict[str, int]] = {k: {} for k in self.match_keys}
        batch_unique: dict[str, set] = {f.name: set() for f in self.unique}
        for number, cells, record_id, values, keys in converted:
            match = None
            if record_id is not None:
                if record_id not in known_ids:
                    out.errors.append((number, cells, {"id": [f"no {self.obj.label} with id {record_id}"]}))
                    continue
                match = ("db", record_id)
            else:
                for k in self.match_keys:
                    v = keys.get(k)
                    if v is None:
                        continue
                    if v in by_key[k]:
                        match = ("db", by_key[k][v])
                        break
                    if v in pending_by[k]:
                        match = ("new", pending_by[k][v])
                        break
                if match is None and self.fuzzy_key and keys.get(self.fuzzy_key):
                    match = self._fuzzy(keys[self.fuzzy_key], values.get(self.companion), by_name, pending_names)
            if match is not None and self.policy == "skip":
                out.skipped += 1
                continue
            if match is not None and self.policy == "update":
                if match[0] == "db":
                    out.updates.append(Update(number, cells, match[1], values))
                    continue
                target = out.creates[match[1]]
                merged = {**target.values, **values}
                problems = self._check(merged, taken, refs, batch_unique, ignore=target.values)
                if problems:
                    out.errors.append((number, cells, problems))
                else:
                    target.values, target.hidden = merged, None  # keys change with the values
                    self._claim_unique(merged, batch_unique)
                    out.merged += 1
                continue
            full, problems = self.plan.complete(values)
            if not problems:
                problems = self._before_save(full) or self._check(full, taken, refs, batch_unique)
            if problems:
                out.errors.append((number, cells, problems))
                continue
            self._claim_unique(full, batch_unique)
            index = len(out.creates)
            out.creates.append(Create(number, cells, full, keys or None))
            for k in self.match_keys:
                if keys.get(k) is not None:
                    pending_by[k].setdefault(keys[k], index)
            if self.fuzzy_key and keys.get(self.fuzzy_key):
                pending_names.setdefault(keys[self.fuzzy_key], []).append((index, full.get(self.companion)))
        return out

    def _fuzzy(self, name: str, company: str | None, by_name: dict, pending: dict):
        """A record with the same blocking key (a contact's normalised name) whose companion
        value (its company) is alike by the behaviour's ``fuzzy_score`` and the tenant's
        threshold, in the database or earlier in the file: the import side of the duplicate rule
        a create applies (candidates are blocked on the whole key here, one query per batch). An
        import acts on a match (skips or updates), so the rule is key *and* companion: a
        same-named person with no company on either side is not taken for the same person."""
        if not company:
            return None
        score = self.behaviour.fuzzy_score
        for record_id, other_company in by_name.get(name, ()):
            if not other_company:
                continue
            if score(name, company, name, other_company) >= self.threshold:
                return ("db", record_id)
        for index, other_company in pending.get(name, ()):
            if other_company and score(name, company, name, other_company) >= self.threshold:
                return ("new", index)
        return None

    def _existing_names(self, converted: list) -> dict[str, list[tuple[str, str | None]]]:
        found: dict[str, list[tuple[str, str | None]]] = {}
        if not self.fuzzy_key or self.model is Record:
            return found
        names = sorted({c[4][self.fuzzy_key] for c in converted if c[4].get(self.fuzzy_key)})
        if not names:
            return found
        model, key = self.model, getattr(self.model, self.fuzzy_key)
        stmt = (select(model.id, key, getattr(model, self.companion))
                .where(key.in_(names)).order_by(model.id))
        for record_id, name, company in self.store.session.execute(stmt):
            found.setdefault(name, []).append((record_id, company))
        return found

    # -- per-row checks -----------------------------------------------------------------------
    def _keys(self, values: dict) -> dict:
        if not (self.match_keys or self.fuzzy_key) or self.behaviour is None:
            return {}
        return self.behaviour.columns(self.store, self.obj, values)

    def _before_save(self, full: dict) -> dict | None:
        full.setdefault("owner_id", None)
        if full["owner_id"] is None:
            full["owner_id"] = self.store.ctx.user_id
        if self.behaviour is None:
            return None
        try:
            self.behaviour.before_save(self.store, self.obj, full, None)
        except MosaicError as exc:
            return error_dict(exc)
        return None

    def _probe(self, fd: FieldDef, value):
        return value if fd.is_column else to_json_value(fd, value)

    def _check(self, values: dict, taken: dict, refs: dict, batch_unique: dict,
               ignore: dict | None = None) -> dict | None:
        problems: dict[str, list[str]] = {}
        for fd in self.unique:
            value = values.get(fd.name)
            if value is None or (ignore is not None and ignore.get(fd.name) == value):
                continue
            probe = self._probe(fd, value)
            probe = _hashable(probe)
            if probe in taken[fd.name] or probe in batch_unique[fd.name]:
                problems[fd.name] = ["must be unique; another record has this value"]
        for fd in self.lookups:
            value = values.get(fd.name)
            if value is not None and value not in refs[fd.name]:
                problems[fd.name] = [f"no {self.store.objects[fd.lookup].label} with id {value}"]
        for fd in self.remote_lookups:
            value = values.get(fd.name)
            if value is not None:
                problems.update(self._named_problem(fd.lookup, value, fd.name, fd.name))
        if self.related:
            problems.update(self._related_problems(values))
        if values.get(OWNER) in self.bad_owners:
            problems[OWNER] = owner_error(values[OWNER]).errors[OWNER]
        return problems or None

    def _related_problems(self, values: dict) -> dict[str, list[str]]:
        """A row's ``related_object``/``related_id`` pair, as a single write checks it
        (:meth:`RecordStore._related_errors`): both or neither, naming a record that exists."""
        target, related = values.get(RELATED_OBJECT), values.get(RELATED_ID)
        half = half_pair_errors(target, related)
        if half or not target:
            return half
        return self._named_problem(target, related, RELATED_OBJECT, RELATED_ID)

    def _named_problem(self, object_name, record_id, object_field: str, id_field: str) -> dict[str, list[str]]:
        key = (str(object_name), str(record_id))
        if key not in self.named:  # a pair the batch's look-up did not see (never expected): ask now
            self.named.update(self._look_up({key}))
        problem = self.named[key]
        if problem == "object":
            return {object_field: [f"no object {key[0]!r} in this tenant"]}
        if problem == "record":
            target = self.store.objects.get(key[0])
            return {id_field: [f"no {target.label if target is not None else key[0]} with id {key[1]}"]}
        return {}

    def _claim_unique(self, values: dict, batch_unique: dict) -> None:
        for fd in self.unique:
            if values.get(fd.name) is not None:
                batch_unique[fd.name].add(_hashable(self._probe(fd, values[fd.name])))

    # -- one query per concern per batch --------------------------------------------------------
    def _scoped(self, stmt, model):
        if model is Record:
            return stmt.where(Record.object == self.obj.name)
        return stmt

    def _existing_ids(self, ids: set[str]) -> set[str]:
        if not ids:
            return set()
        stmt = self._scoped(select(self.model.id).where(self.model.id.in_(sorted(ids))), self.model)
        return set(self.store.session.scalars(stmt))

    def _existing_keys(self, converted: list) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {k: {} for k in self.match_keys}
        if not self.match_keys or self.model is Record:
            return found
        model = self.model
        wanted = {k: {c[4][k] for c in converted if c[4].get(k)} for k in self.match_keys}
        conditions = [getattr(model, k).in_(sorted(v)) for k, v in wanted.items() if v]
        if not conditions:
            return found
        cols = [model.id] + [getattr(model, k) for k in self.match_keys]
        # Oldest first: when several records share a key, the first one created is the match.
        for row in self.store.session.execute(select(*cols).where(or_(*conditions)).order_by(model.id)):
            for k, value in zip(self.match_keys, row[1:]):
                if value is not None and value in wanted[k]:
                    found[k].setdefault(value, row[0])
        return found

    def _existing_unique(self, converted: list) -> dict[str, set]:
        taken: dict[str, set] = {}
        for fd in self.unique:
            probes = {_hashable(self._probe(fd, c[3][fd.name])) for c in converted if c[3].get(fd.name) is not None}
            if fd.name in self.plan.defaults:
                probes.add(_hashable(self._probe(fd, self.plan.defaults[fd.name])))
            taken[fd.name] = set()
            if probes:
                expr = self.store._expr(self.obj, fd)
                stmt = self._scoped(select(expr).where(expr.in_(sorted(probes, key=repr))), self.model)
                taken[fd.name] = {_hashable(v) for v in self.store.session.scalars(stmt)}
        return taken

    def _named_records(self, converted: list) -> dict[tuple[str, str], str | None]:
        """Whether each record the batch names by a remote lookup or a related pair exists."""
        if not self.remote_lookups and not self.related:
            return {}
        return self._look_up(_named_pairs(self, converted))

    def _look_up(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """``pairs`` checked: one query per object this service hosts; the hosting service asked
        once per distinct record otherwise (ServiceUnavailable if it does not answer: the batch
        waits). Without a way to ask (no ``store.remote``), a remote record passes, as a single
        write's check does."""
        by_object: dict[str, set[str]] = {}
        for object_name, record_id in pairs:
            by_object.setdefault(object_name, set()).add(record_id)
        found: dict[tuple[str, str], str | None] = {}
        store = self.store
        for object_name, ids in by_object.items():
            target = store.objects.get(object_name)
            if target is not None:
                model = target.model if target.model is not None else Record
                stmt = select(model.id).where(model.id.in_(sorted(ids)))
                if model is Record:
                    stmt = stmt.where(Record.object == target.name)
                have = set(store.session.scalars(stmt))
                found.update({(object_name, i): None if i in have else "record" for i in ids})
                continue
            for record_id in sorted(ids):
                problem = None
                if store.remote is not None:
                    errors = store.remote.errors(store.ctx, object_name, record_id, object_field="object",
                                                 id_field="record")
                    problem = next(iter(errors), None)
                found[(object_name, record_id)] = problem
        return found

    def _existing_refs(self, converted: list) -> dict[str, set]:
        refs: dict[str, set] = {}
        for fd in self.lookups:
            ids = {c[3][fd.name] for c in converted if c[3].get(fd.name) is not None}
            target = self.store.objects[fd.lookup]
            model = target.model if target.model is not None else Record
            refs[fd.name] = set()
            if ids:
                stmt = select(model.id).where(model.id.in_(sorted(ids)))
                if model is Record:
                    stmt = stmt.where(Record.object == target.name)
                refs[fd.name] = set(self.store.session.scalars(stmt))
        return refs


def _named_pairs(sorter: "BatchSorter", converted: list) -> set[tuple[str, str]]:
    """Every (object, record id) the batch's rows name by a remote lookup or a related pair,
    defaults included."""
    pairs: set[tuple[str, str]] = set()
    defaults = sorter.plan.defaults
    for c in converted:
        values = {**defaults, **c[3]} if defaults else c[3]
        for fd in sorter.remote_lookups:
            if values.get(fd.name) is not None:
                pairs.add((fd.lookup, str(values[fd.name])))
        if sorter.related and values.get(RELATED_OBJECT) and values.get(RELATED_ID):
            pairs.add((str(values[RELATED_OBJECT]), str(values[RELATED_ID])))
    return pairs


def _hashable(value):
    """A set member standing for ``value`` (dates, Decimals and JSON forms compared alike)."""
    value = json_safe(value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value
