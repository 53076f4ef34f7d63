"""What the plugin does when records are written or events arrive: keep each property's count of
positive viewings current, refuse viewings of sold properties and inverted budgets, and tell
agents about new listings that fit their buyers.

Every function takes the tenant's :class:`~mosaic.records.store.RecordStore` and works only
through it (and ``mosaic.automation.notifications``), inside the caller's transaction.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterator

from mosaic.errors import NotFound

from mosaic_realestate.matching import buyer_filter, quote
from mosaic_realestate.objects import CONTACT, PROPERTY, VIEWING

if TYPE_CHECKING:  # pragma: no cover
    from mosaic.records.store import RecordStore

log = logging.getLogger(__name__)
SOURCE = "realestate"
#: at most this many buyers are named in one notification (the rest are counted)
NAMED_BUYERS = 5


def _pages(store: "RecordStore", object_name: str, filter: str, fields: list[str]) -> Iterator[dict]:
    """Every record of ``object_name`` matching ``filter``, page by page."""
    cursor = None
    while True:
        page = store.list(object_name, filter=filter, fields=fields, cursor=cursor, limit=store.max_page)
        yield from page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def count_positive_viewings(store: "RecordStore", property_id: str) -> int:
    """How many viewings of ``property_id`` had a positive outcome."""
    flt = f'property_id = {quote(str(property_id))} and outcome = "positive"'
    return sum(1 for _ in _pages(store, VIEWING, flt, ["id"]))


def recount(store: "RecordStore", property_id: str | None) -> int | None:
    """Write the property's current count of positive viewings (an automation write, so it
    triggers no rules); returns it, or None if the property no longer exists."""
    if not property_id:
        return None
    prop = store.obj(PROPERTY)
    try:
        row = store.load_row(prop, property_id)
    except NotFound:
        return None  # the property was deleted; its viewings count for nothing
    n = count_positive_viewings(store, property_id)
    store.update_values(prop, row, {"positive_viewings": n}, action="automation")
    return n


def viewing_saved(store: "RecordStore", record: dict, before: dict | None) -> None:
    """After a viewing is written: recount the positive viewings of its property, and of its
    previous property when it was moved to another one. A write that changes neither the
    outcome nor the property changes no count and costs no query."""
    new_pid = record.get("property_id")
    old_pid = (before or {}).get("property_id")
    if before is not None and old_pid == new_pid and before.get("outcome") == record.get("outcome"):
        return
    recount(store, new_pid)
    if old_pid and old_pid != new_pid:
        recount(store, old_pid)


def check_viewing(store: "RecordStore", values: dict, before: dict | None) -> dict | None:
    """Refuse to book a viewing of a sold property (a new viewing, or one moved to it)."""
    pid = values.get("property_id")
    if not pid or (before is not None and before.get("property_id") == pid):
        return None
    prop = store.obj(PROPERTY)
    try:
        row = store.load_row(prop, pid)
    except NotFound:
        return None  # the platform's reference check answers this one
    if store.values_of(prop, row).get("status") == "sold":
        return {"property_id": ["This property is sold; it cannot be viewed any more."]}
    return None


def check_budget(values: dict) -> dict | None:
    """A buyer's budget may not start above where it ends. (The filter language compares a
    field with values, not with another field, so this is a hook rather than a validation rule.)"""
    low, high = values.get("realestate__budget_min"), values.get("realestate__budget_max")
    if low is not None and high is not None and low > high:
        return {"realestate__budget_min": ["The budget's lower bound must not exceed its upper bound."]}
    return None


def _name(contact: dict) -> str:
    name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
    return name or contact["id"]


def _money(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) else "price on request"


def listing_message(prop: dict, buyers: list[dict]) -> str:
    """The notification text for one agent about a new listing and their fitting buyers."""
    names = ", ".join(_name(b) for b in buyers[:NAMED_BUYERS])
    if len(buyers) > NAMED_BUYERS:
        names += f" and {len(buyers) - NAMED_BUYERS} more"
    where = (prop.get("district") or "").replace("_", " ")
    place = f" in {where}" if where else ""
    noun = "buyer" if len(buyers) == 1 else "buyers"
    return f"New listing {prop.get('title')}{place} at {_money(prop.get('price'))} fits your {noun} {names}."


def notify_matching_buyers(store: "RecordStore", property_id: str) -> int:
    """Notify the owner of every contact whose requirement fits the (still available) property:
    one notification per owner, about their first fitting buyer (by id) and naming the others.
    Returns how many notifications were written."""
    from mosaic.automation.notifications import notify

    try:
        prop = store.get(PROPERTY, property_id)
    except NotFound:
        return 0  # deleted before the event was handled
    if prop.get("status") != "available":
        return 0
    by_owner: dict[str, list[dict]] = {}
    for contact in _pages(store, CONTACT, buyer_filter(prop), ["id", "owner_id", "first_name", "last_name"]):
        if contact.get("owner_id"):
            by_owner.setdefault(contact["owner_id"], []).append(contact)
    for owner, buyers in sorted(by_owner.items()):
        buyers.sort(key=lambda c: c["id"])
        notify(store.session, f"user:{owner}", listing_message(prop, buyers), CONTACT, buyers[0]["id"],
               source=SOURCE)
    if by_owner:
        log.info("new listing %s fits buyers of %d agent(s)", property_id, len(by_owner))
    return len(by_owner)


def handle_event(store: "RecordStore", event: dict) -> None:
    """React to the contacts service's events about the plugin's records."""
    kind = event.get("type")
    if kind == f"{PROPERTY}.created":
        notify_matching_buyers(store, event["record_id"])
    elif kind == f"{VIEWING}.deleted":
        # Deletes run no write hooks: the count catches up from the event instead.
        record = (event.get("data") or {}).get("record") or {}
        if record.get("outcome") == "positive":
            recount(store, record.get("property_id"))
