"""Matching filters: they parse against the real objects' fields and select the right records
when evaluated in memory."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from mosaic.filters import evaluate, parse
from mosaic_contacts.objects import CONTACT
from mosaic_realestate.matching import buyer_filter, number, property_filter, quote, requirement_of
from mosaic_realestate.objects import CONTACT_FIELDS, PROPERTY_OBJECT

NOW = datetime(2024, 5, 8, 9, 0, tzinfo=timezone.utc)
PROPERTY_FIELDS = {f.name: f for f in PROPERTY_OBJECT.fields}
BUYER_FIELDS = {f.name: f for f in CONTACT.fields + CONTACT_FIELDS}


def prop(**overrides) -> dict:
    return {"title": "Loft", "status": "available", "price": 400000.0, "district": "riverside", "rooms": 3,
            **overrides}


def buyer(**overrides) -> dict:
    return {"last_name": "Novak", "realestate__budget_min": 300000.0, "realestate__budget_max": 450000.0,
            "realestate__districts": ["riverside", "harbour"], "realestate__rooms_min": 2, **overrides}


def fits_property(requirement: dict, record: dict) -> bool:
    return evaluate(parse(property_filter(requirement), PROPERTY_FIELDS), record, NOW)


def fits_buyer(property_record: dict, contact: dict) -> bool:
    return evaluate(parse(buyer_filter(property_record), BUYER_FIELDS), contact, NOW)


# -- literals -------------------------------------------------------------------------------------

def test_quote_escapes_what_would_end_or_bend_the_string():
    text = 'a "b" \\ c\nd\te\x01'
    literal = quote(text)
    assert literal == '"a \\"b\\" \\\\ c\\nd\\te\\u0001"'
    flt = parse(f"title = {literal}", PROPERTY_FIELDS)
    assert evaluate(flt, {"title": text}, NOW) is True
    assert evaluate(flt, {"title": "a "}, NOW) is False


@pytest.mark.parametrize("value, text", [(3, "3"), (-7, "-7"), (2.5, "2.5"), (1e20, "100000000000000000000"),
                                         (Decimal("0.10"), "0.1"), (450000.0, "450000"), (-0.0, "0")])
def test_numbers_are_plain_decimal_literals(value, text):
    assert number(value) == text
    parse(f"price = {text}", PROPERTY_FIELDS)  # the language accepts it


@pytest.mark.parametrize("value", [True, "3", float("nan"), float("inf"), None, Decimal("NaN")])
def test_non_numbers_are_refused(value):
    with pytest.raises(ValueError):
        number(value)


# -- property_filter ------------------------------------------------------------------------------

def test_requirement_of_reads_the_contact_fields_and_drops_empty_parts():
    contact = buyer(realestate__rooms_min=None, realestate__purpose="buy")
    assert requirement_of(contact) == {"budget_min": 300000.0, "budget_max": 450000.0,
                                       "districts": ["riverside", "harbour"], "purpose": "buy"}
    assert requirement_of({"last_name": "x", "realestate__districts": []}) == {}


def test_property_filter_text():
    requirement = {"budget_min": 300000, "budget_max": 450000.5, "districts": ["riverside", "harbour"],
                   "rooms_min": 2}
    assert property_filter(requirement) == ('status = "available" and price >= 300000 and price <= 450000.5'
                                            ' and district in ("harbour", "riverside") and rooms >= 2')
    assert property_filter({}) == 'status = "available"'


def test_property_filter_selects_fitting_available_properties():
    requirement = requirement_of(buyer())
    assert fits_property(requirement, prop())
    assert fits_property(requirement, prop(price=300000.0, rooms=2))        # bounds are inclusive
    assert not fits_property(requirement, prop(price=450001.0))
    assert not fits_property(requirement, prop(price=299999.0))
    assert not fits_property(requirement, prop(district="lakeside"))
    assert not fits_property(requirement, prop(rooms=1))
    assert not fits_property(requirement, prop(status="reserved"))
    assert not fits_property(requirement, prop(rooms=None))                 # unknown is not a fit


def test_property_filter_skips_what_the_buyer_leaves_open():
    only_budget = {"budget_max": 500000}
    assert fits_property(only_budget, prop(district="lakeside", rooms=None))
    assert not fits_property(only_budget, prop(price=500000.5))
    assert fits_property({"districts": ["lakeside"], "purpose": "invest"}, prop(district="lakeside", price=9e6))


def test_property_filter_quotes_hostile_district_values():
    flt = property_filter({"districts": ['x") or (price > 0']})
    assert flt == 'status = "available" and district in ("x\\") or (price > 0")'
    assert not fits_property({"districts": ['x") or (price > 0']}, prop())


# -- buyer_filter ---------------------------------------------------------------------------------

def test_buyer_filter_selects_buyers_whose_requirement_fits():
    p = prop()
    assert fits_buyer(p, buyer())
    assert not fits_buyer(p, buyer(realestate__budget_max=350000.0))
    assert not fits_buyer(p, buyer(realestate__budget_min=410000.0))
    assert not fits_buyer(p, buyer(realestate__districts=["lakeside"]))
    assert not fits_buyer(p, buyer(realestate__rooms_min=4))


def test_buyer_filter_lets_unstated_bounds_pass_but_needs_some_requirement():
    p = prop()
    assert fits_buyer(p, buyer(realestate__budget_min=None, realestate__rooms_min=None))
    assert fits_buyer(p, {"last_name": "x", "realestate__districts": ["riverside"]})
    assert fits_buyer(p, {"last_name": "x", "realestate__budget_max": 400000.0})
    assert not fits_buyer(p, {"last_name": "no requirement"})
    assert not fits_buyer(p, {"last_name": "purpose only", "realestate__purpose": "buy"})


def test_buyer_filter_skips_what_the_property_does_not_state():
    bare = {"title": "Plot", "price": None, "district": None, "rooms": None}
    assert buyer_filter(bare) == ("(realestate__budget_min is not null or realestate__budget_max is not null"
                                  " or realestate__districts is not null or realestate__rooms_min is not null)")
    assert fits_buyer(bare, buyer(realestate__budget_max=1.0))


def test_filters_of_one_pair_agree():
    """A buyer finds a property exactly when the property finds the buyer."""
    properties = [prop(), prop(price=460000.0), prop(district="harbour", rooms=2), prop(rooms=1),
                  prop(district="lakeside", price=250000.0)]
    buyers = [buyer(), buyer(realestate__budget_min=None), buyer(realestate__districts=["lakeside"],
                                                                  realestate__rooms_min=None),
              {"last_name": "x", "realestate__budget_max": 410000.0}]
    for b in buyers:
        for p in properties:
            assert fits_property(requirement_of(b), p) == fits_buyer(p, b), (b, p)
