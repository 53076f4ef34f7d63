"""Lists over HTTP: ``count=true`` adds the total, a money field sorts by its amount (and a sort
by the whole field names the part to use), and every bad list parameter is a 400 problem."""
from __future__ import annotations

from tests.e2e.conftest import assert_problem


def test_count_and_sorting_by_a_money_amount(api):
    resp = api.post("metadata/objects/contact/fields", {"name": "budget", "type": "money", "currency": "EUR"})
    assert resp.status_code == 201, resp.text
    amounts = [300, None, 20, 4000, 20]
    for i, amount in enumerate(amounts):
        body = {"last_name": f"B{i}", **({"budget": {"amount": amount}} if amount is not None else {})}
        assert api.post("contacts", body).status_code == 201
    page = api.get("contacts", params={"count": "true", "limit": 2})
    assert page.status_code == 200, page.text
    assert (page.json()["total"], page.json()["total_is_estimate"]) == (5, False)
    assert "total" not in api.get("contacts").json()
    assert api.get("contacts", params={"count": "true", "filter": "budget.amount > 100"}).json()["total"] == 2

    seen, cursor = [], None
    while True:
        resp = api.get("contacts", params={"sort": "-budget.amount", "limit": 2, **({"cursor": cursor} if cursor else {})})
        assert resp.status_code == 200, resp.text
        seen += [(r["budget"] or {}).get("amount") for r in resp.json()["items"]]
        cursor = resp.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [4000, 300, 20, 20, None]

    body = assert_problem(api.get("contacts", params={"sort": "budget"}), 400)
    assert "budget.amount" in body["errors"]["sort"][0]
    assert_problem(api.get("contacts", params={"count": "maybe"}), 400)
    assert_problem(api.get("contacts/" + api.get("contacts").json()["items"][0]["id"] + "/history",
                           params={"cursor": "garbage"}), 400)
