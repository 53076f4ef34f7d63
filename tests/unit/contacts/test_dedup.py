"""The contact duplicate search prunes before it scores (a name-length window in the query, a
name-score cut-off in rapidfuzz): it must find exactly what scoring every same-prefix contact
finds, and nothing of another tenant."""
from __future__ import annotations

import random

from rapidfuzz import fuzz

from mosaic.context import RequestContext
from mosaic.db import tenant_session
from mosaic.metadata.store import metadata_version, tenant_objects
from mosaic.records.store import RecordStore
from mosaic_contacts import dedup
from mosaic_contacts.behaviours import build_behaviours
from mosaic_contacts.objects import build_registry

REGISTRY = build_registry()
FIRST = ["Ann", "Anna", "Anne", "Annie", "Ana", "Annabel", "Anh", "Ann Marie", "Annika"]
LAST = ["Lee", "Li", "Leigh", "Lee Smith", "Smith", "Smyth", "Nunez", "Núñez", "van der Berg", "Berg"]
COMPANIES = [None, "", "Acme", "ACME Ltd", "Acme Inc", "Globex", "Initech", "acme"]
THRESHOLDS = (0, 50, 70, 85, 90, 95, 100)


def _people(rng: random.Random, count: int) -> list[tuple[str, str, str | None]]:
    return [(rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANIES)) for _ in range(count)]


def test_the_cutoff_and_the_length_window_never_drop_a_match():
    rng = random.Random(7)
    pairs = [(a, b) for a in _people(rng, 60) for b in _people(rng, 60)]
    checked = 0
    for (fa, la, ca), (fb, lb, cb) in pairs:
        a, b = dedup.name_key(fa, la), dedup.name_key(fb, lb)
        s = dedup.score(a, ca, b, cb)
        for threshold in THRESHOLDS:
            if s < threshold:
                continue
            checked += 1
            cutoff = dedup.name_cutoff(threshold, bool(dedup.name_key(ca)))
            assert fuzz.token_sort_ratio(a, b) >= cutoff, (a, ca, b, cb, threshold)
            low, high = dedup.length_window(len(a), cutoff)
            assert low <= len(b) <= high, (a, b, threshold, low, high)
    assert checked > 1000  # the pairs did reach the thresholds


def test_no_name_can_reach_a_threshold_above_the_name_alone():
    assert dedup.name_cutoff(95, with_company=False) > 100  # 95 needs a name score of 105
    assert dedup.name_cutoff(90, with_company=True) < 84  # 0.6 * 83.4 + 40 >= 90
    assert dedup.length_window(10, 100 - 1e-6) == (9, 11)


def test_a_name_alone_is_matched_by_its_words_in_any_order_within_the_block():
    assert dedup.same_tokens("ann lee smith") == ["ann lee smith", "ann smith lee"]  # "lee …" is another block
    assert dedup.same_tokens("ann lee") == ["ann lee"]
    assert dedup.same_tokens("a b c d e") is None  # 120 orders: the length window serves
    for key in dedup.same_tokens("ann marie van lee"):
        assert fuzz.token_sort_ratio("ann marie van lee", key) == 100


def _store(session) -> RecordStore:
    ctx = RequestContext(tenant_id=session.info["tenant_id"], user_id="u1", roles=("admin",), modules=("contacts",))
    return RecordStore(session, tenant_objects(session, REGISTRY), ctx, module="contacts",
                       metadata_version=metadata_version(session), behaviours=build_behaviours())


def _full_scan(records: list[dict], probe: dict, threshold: int) -> list[tuple]:
    """What the search promises: every same-prefix contact scored, exact keys first."""
    keys = dedup.contact_keys(probe)
    nk, out = keys["name_key"], []
    for r in records:
        rk = dedup.contact_keys(r)
        if keys["email_key"] and rk["email_key"] == keys["email_key"]:
            out.append((r["id"], "email", 100.0))
        elif keys["phone_key"] and rk["phone_key"] == keys["phone_key"]:
            out.append((r["id"], "phone", 100.0))
        elif nk and rk["name_key"] and rk["name_key"][:dedup.BLOCK] == nk[:dedup.BLOCK]:
            s = dedup.score(nk, probe.get("company_name"), rk["name_key"], r.get("company_name"))
            if s >= threshold:
                out.append((r["id"], "name_company", round(s, 1)))
    return sorted(out)


def test_the_same_blocks_names_are_plain_parameters_one_shape_per_count():
    stmt = dedup._candidates(True, False, "same", False, 2)
    assert stmt is dedup._candidates(True, False, "same", False, 2)
    binds = stmt.compile().binds
    assert {"name_0", "name_1"} <= set(binds) and not any(b.expanding for b in binds.values())
    assert dedup._same_names(["ann lee smith", "ann smith lee"]) == {"name_0": "ann lee smith",
                                                                    "name_1": "ann smith lee"}


def test_the_search_finds_what_scoring_every_look_alike_finds(engine):
    rng = random.Random(11)
    with tenant_session(engine, "t1") as s:
        store = _store(s)
        people = _people(rng, 80) + [("Ann", "Smith Lee", None), ("Ann Lee", "Smith", "Acme"),
                                     ("Ann Marie", "van der Berg", None), ("Ann Berg", "Marie van der", None)]
        mine = [store.create("contact", {"first_name": f, "last_name": lname, "company_name": c or None,
                                         "email": f"p{i}@x.test" if i % 5 == 0 else None})
                for i, (f, lname, c) in enumerate(people)]
        s.commit()
    with tenant_session(engine, "t2") as s:  # another tenant's look-alikes stay invisible
        store = _store(s)
        for f, lname, c in _people(rng, 40):
            store.create("contact", {"first_name": f, "last_name": lname, "company_name": c or None})
        store.create("contact", {"last_name": "Elsewhere", "email": "p0@x.test"})
        s.commit()
    probes = [{"first_name": f, "last_name": lname, "company_name": c} for f, lname, c in _people(rng, 25)]
    probes += [{"first_name": "Ann", "last_name": "Lee", "email": "P0@X.test"},
               {"first_name": "Ann", "last_name": "Lee Smith"}, {"first_name": "Ann", "last_name": "Lee  Smith",
                                                                  "company_name": "ACME"},
               {"first_name": "Ann Marie", "last_name": "Berg van der"}]
    with tenant_session(engine, "t1") as s:
        for probe in probes:
            for threshold in THRESHOLDS:
                found = dedup.find_contact_duplicates(s, probe, threshold=threshold)
                assert [d["score"] for d in found] == sorted((d["score"] for d in found), reverse=True)
                assert sorted((d["id"], d["reason"], d["score"]) for d in found) == \
                    _full_scan(mine, probe, threshold), (probe, threshold)
