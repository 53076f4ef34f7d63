"""The plugin's HTTP routes, mounted by the gateway under ``/api/v1/x/realestate/``.

Views call the services as the requesting user (``mosaic.plugins.gateway.call``), so the caller's
permissions apply and service errors (404, 422, ...) become problem+json like anywhere else.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from mosaic.errors import ValidationFailed
from mosaic.plugins.gateway import PROBLEM, call, declare, query

from mosaic_realestate.matching import property_filter, requirement_of
from mosaic_realestate.objects import CONTACT, PROPERTY

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def _limit() -> int:
    raw = request.args.get("limit", DEFAULT_LIMIT)
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be a whole number from 1 to {MAX_LIMIT}",
                               errors={"limit": [f"from 1 to {MAX_LIMIT}"]})
    return limit


@declare("Available properties matching the contact's buyer requirement, cheapest first",
         tag="plugin: realestate", op="realestate_matches",
         params=[query("limit", f"1 to {MAX_LIMIT}", type="integer", minimum=1, maximum=MAX_LIMIT,
                       default=DEFAULT_LIMIT)],
         responses={200: {"type": "object", "required": ["contact_id", "requirement", "filter", "items"],
                          "properties": {
                              "contact_id": {"type": "string"}, "requirement": {"type": "object"},
                              "filter": {"type": "string", "description": "the filter used on properties"},
                              "items": {"type": "array",
                                        "items": {"$ref": "#/components/schemas/RealestateProperty"}}}},
                    404: PROBLEM, 422: PROBLEM})
def matches(contact_id: str):
    """``GET contacts/<contact_id>/matches[?limit=20]``: available properties that fit the
    contact's buyer requirement, cheapest first, with the requirement and the filter used."""
    limit = _limit()
    contact = call("contacts", "get_record", CONTACT, contact_id)
    requirement = requirement_of(contact)
    if not requirement:
        raise ValidationFailed("This contact has no buyer requirement (budget, districts, rooms or purpose).",
                               errors={"contact_id": ["no buyer requirement to match"]})
    flt = property_filter(requirement)
    page = call("contacts", "list_records", PROPERTY, filter=flt, sort="price", limit=limit)
    return jsonify({"contact_id": contact["id"], "requirement": requirement, "filter": flt,
                    "items": page["items"]})


def blueprint() -> Blueprint:
    """A new blueprint with the plugin's routes (one per gateway app)."""
    bp = Blueprint("realestate", __name__)
    bp.add_url_rule("/contacts/<contact_id>/matches", "matches", matches, methods=["GET"])
    return bp
