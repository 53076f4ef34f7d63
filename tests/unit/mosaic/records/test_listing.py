"""Record lists on the lab objects: filters, every sort (columns, JSON fields, money parts, NULLs
last both ways) paged to the end with cursors that never repeat or skip a record, ``count``,
and the errors of a bad query."""
from __future__ import annotations

import pytest

from mosaic.errors import BadRequest, ValidationFailed
from tests.unit.mosaic.records.conftest import make_gadget

SIZES = [3, None, 1, 3, 2, None, 5, 1]
PRICES = [7.5, 2.0, None, 7.5, 100.0, 0.5, None, 3.25]


@pytest.fixture
def gadgets(store):
    made = [make_gadget(store, size=s, price=None if p is None else {"amount": p},
                        made_on=None if s is None else f"2026-01-0{s}")
            for s, p in zip(SIZES, PRICES)]
    store.session.commit()
    return made


def walk(store, sort, limit=3, **kw) -> list[dict]:
    """Every page of the list, following the cursors."""
    items, cursor = [], None
    while True:
        page = store.list("gadget", sort=sort, cursor=cursor, limit=limit, **kw)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def expected_order(gadgets, key, descending):
    """id breaks ties in the sort's direction; NULLs come last either way."""
    present = [g for g in gadgets if key(g) is not None]
    present.sort(key=lambda g: (key(g), g["id"]), reverse=descending)
    missing = sorted((g for g in gadgets if key(g) is None), key=lambda g: g["id"], reverse=descending)
    return [g["id"] for g in present + missing]


@pytest.mark.parametrize("sort, key", [
    ("size", lambda g: g["size"]),
    ("made_on", lambda g: g["made_on"]),
    ("price.amount", lambda g: (g["price"] or {}).get("amount")),
    ("name", lambda g: g["name"]),
    ("created_at", lambda g: g["created_at"]),
])
@pytest.mark.parametrize("descending", [False, True])
def test_pages_follow_the_sort_to_the_end(store, gadgets, sort, key, descending):
    got = walk(store, ("-" if descending else "") + sort)
    assert [g["id"] for g in got] == expected_order(gadgets, key, descending)


def test_filters_select_and_fields_trim(store, gadgets):
    items = walk(store, "size", filter="size >= 3 and price.amount > 5")
    assert sorted((g["size"], g["price"]["amount"]) for g in items) == [(3, 7.5), (3, 7.5)]
    page = store.list("gadget", fields=["size"], limit=1)
    assert set(page["items"][0]) == {"object", "id", "version", "size"}


def test_count_is_the_number_of_matching_records(store, make_store, gadgets):
    other = make_store(tenant="t2")
    assert other.list("gadget", count=True)["total"] == 0  # another tenant's records never count
    page = store.list("gadget", limit=2, count=True)
    assert (page["total"], page["total_is_estimate"]) == (len(gadgets), False)
    assert store.list("gadget", filter="size = 3", count=True)["total"] == 2
    assert "total" not in store.list("gadget")


def test_a_money_field_sorts_by_a_part_and_says_so(store, gadgets):
    with pytest.raises(BadRequest) as err:
        store.list("gadget", sort="price")
    assert "price.amount" in err.value.errors["sort"][0]
    currencies = [g["price"]["currency"] for g in walk(store, "price.currency") if g["price"]]
    assert currencies == ["EUR"] * 6


@pytest.mark.parametrize("sort", ["tags", "notes", "nope", "size,name", "size.amount"])
def test_unsortable_and_unknown_sorts_are_400(store, sort):
    with pytest.raises(BadRequest) as err:
        store.list("gadget", sort=sort)
    assert "sort" in err.value.errors


def test_cursors_of_another_sort_or_forged_are_400(store, gadgets):
    cursor = store.list("gadget", sort="size", limit=1)["next_cursor"]
    for bad in (cursor[:-2], "!!!", "e30", cursor.swapcase()):
        with pytest.raises(BadRequest):
            store.list("gadget", sort="size", cursor=bad)
    with pytest.raises(BadRequest):
        store.list("gadget", sort="-size", cursor=cursor)


@pytest.mark.parametrize("limit", [0, 501, "ten"])
def test_limits_are_checked(store, limit):
    with pytest.raises(ValidationFailed):
        store.list("gadget", limit=limit)


def test_unknown_fields_are_refused(store):
    with pytest.raises(ValidationFailed) as err:
        store.list("gadget", fields=["size", "colour"])
    assert err.value.errors == {"fields": ["unknown field 'colour'"]}
