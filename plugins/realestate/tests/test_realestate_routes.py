"""The matches route in a Flask app of its own, its service calls answered by a real record store
in-process (RPC, authentication and the gateway's mounting are covered by the HTTP test)."""
from __future__ import annotations

import pytest
from flask import Flask, jsonify

from mosaic.errors import MosaicError
from mosaic.processes.engine import transition
from mosaic_realestate import routes
from realestate_factories import make_buyer, make_property

PREFIX = "/api/v1/x/realestate"


@pytest.fixture
def client(store, monkeypatch):
    calls = []

    def call(service, method, *args, **kwargs):
        calls.append((service, method, args, kwargs))
        assert service == "contacts"
        if method == "get_record":
            return store.get(*args, **kwargs)
        if method == "list_records":
            return store.list(*args, **kwargs)
        raise AssertionError(f"unexpected call {method}")

    monkeypatch.setattr(routes, "call", call)
    app = Flask("realestate-test")
    app.register_blueprint(routes.blueprint(), url_prefix=PREFIX)

    @app.errorhandler(MosaicError)
    def problem(exc):  # what the gateway does for every route
        return jsonify(exc.to_problem()), exc.status

    c = app.test_client()
    c.calls = calls
    return c


def test_matches_lists_fitting_available_properties_cheapest_first(store, client):
    buyer = make_buyer(store)
    make_property(store, title="Dear", price=440000)
    make_property(store, title="Cheap", price=310000)
    make_property(store, title="Too dear", price=460000)
    make_property(store, title="Wrong district", district="lakeside")
    taken = make_property(store, title="Reserved", price=350000)
    transition(store, "realestate__property", taken["id"], to="reserved")

    r = client.get(f"{PREFIX}/contacts/{buyer['id']}/matches")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["contact_id"] == buyer["id"]
    assert body["requirement"] == {"budget_min": 300000.0, "budget_max": 450000.0,
                                   "districts": ["riverside", "harbour"], "rooms_min": 2, "purpose": "buy"}
    assert body["filter"] == ('status = "available" and price >= 300000 and price <= 450000'
                              ' and district in ("harbour", "riverside") and rooms >= 2')
    assert [p["title"] for p in body["items"]] == ["Cheap", "Dear"]
    assert client.calls[-1][3] == {"filter": body["filter"], "sort": "price", "limit": 20}

    r = client.get(f"{PREFIX}/contacts/{buyer['id']}/matches?limit=1")
    assert [p["title"] for p in r.get_json()["items"]] == ["Cheap"]


def test_a_contact_without_requirement_is_a_422(store, client):
    plain = store.create("contact", {"last_name": "Browser"})
    r = client.get(f"{PREFIX}/contacts/{plain['id']}/matches")
    assert r.status_code == 422
    assert r.get_json()["errors"] == {"contact_id": ["no buyer requirement to match"]}


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_a_bad_limit_is_a_422(store, client, limit):
    buyer = make_buyer(store)
    r = client.get(f"{PREFIX}/contacts/{buyer['id']}/matches?limit={limit}")
    assert r.status_code == 422 and "limit" in r.get_json()["errors"]


def test_an_unknown_contact_is_a_404(client):
    assert client.get(f"{PREFIX}/contacts/nobody/matches").status_code == 404
