"""Concurrent writers over HTTP: whoever loses a race on a record gets a problem — 412 for a stale
``If-Match``, 409 otherwise, 404 once it is gone — and never a 500; a new tenant's first requests,
arriving together, all succeed. Green threads (the suite runs under eventlet) fire the requests
at once against the real gateway, services, PostgreSQL and RabbitMQ (or the embedded stack)."""
from __future__ import annotations

import eventlet

from tests.e2e.conftest import assert_problem, make_tenant

WRITERS = 10


def at_once(fn, n: int = WRITERS) -> list:
    pool = eventlet.GreenPool(n)
    return list(pool.imap(lambda i: fn(i), range(n)))


def statuses(responses) -> list[int]:
    return sorted(r.status_code for r in responses)


def new_contact(api) -> str:
    resp = api.post("contacts", {"last_name": "Racer"})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def test_patches_with_one_if_match_have_one_winner_and_412s(api):
    rid = new_contact(api)
    responses = at_once(lambda i: api.patch(f"contacts/{rid}", {"title": f"T{i}"}, headers={"If-Match": '"1"'}))
    assert statuses(responses) == [200] + [412] * (WRITERS - 1), [r.text for r in responses]
    for r in responses:
        if r.status_code == 412:
            assert_problem(r, 412)
    assert api.get(f"contacts/{rid}").json()["version"] == 2


def test_patches_without_if_match_answer_200_or_409(api):
    rid = new_contact(api)
    responses = at_once(lambda i: api.patch(f"contacts/{rid}", {"title": f"T{i}"}))
    wins = sum(r.status_code == 200 for r in responses)
    assert wins >= 1 and all(r.status_code in (200, 409) for r in responses), statuses(responses)
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409)
    assert api.get(f"contacts/{rid}").json()["version"] == 1 + wins


def test_deletes_have_one_winner(api):
    rid = new_contact(api)
    responses = at_once(lambda i: api.delete(f"contacts/{rid}", headers={"If-Match": '"1"'} if i % 2 else {}))
    assert statuses(responses).count(204) == 1, [r.text for r in responses]
    for r in responses:
        if r.status_code != 204:
            assert r.status_code in (404, 409, 412), r.text
            assert_problem(r, r.status_code)
    assert api.get(f"contacts/{rid}").status_code == 404


def test_a_new_tenants_first_requests_arrive_together(stack):
    api = make_tenant(stack)
    responses = at_once(lambda i: api.post("contacts", {"last_name": f"First{i}"}) if i % 2
                        else api.get("contacts"))
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    assert len(api.get("contacts").json()["items"]) == WRITERS // 2
