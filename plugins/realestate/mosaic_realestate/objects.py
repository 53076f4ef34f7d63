"""The plugin's objects (properties, viewings) and the buyer-requirement fields it adds to contacts.

Both objects are hosted by the contacts service (its generic records table); the host prefixes
nothing here: object names and contact field names carry the ``realestate__`` namespace, fields
of the plugin's own objects do not.

Money is stored as a decimal (the agency's one currency) rather than a money field: the filter
language compares decimals directly (``price <= 450000``), which matching relies on.
"""
from __future__ import annotations

from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef

T = FieldType
PROPERTY = "realestate__property"
VIEWING = "realestate__viewing"
CONTACT = "contact"

#: a fixed set of districts (a picklist, so filters and analytics group on exact values);
#: a tenant with other districts changes the choices through the metadata API.
DISTRICTS = ("city_centre", "old_town", "riverside", "harbour", "university", "west_end",
             "north_hills", "lakeside")
PROPERTY_TYPES = ("apartment", "house", "townhouse", "land", "commercial")
#: the listing process's stages (the ``status`` picklist)
STATUSES = ("available", "reserved", "under_contract", "sold")
OUTCOMES = ("pending", "positive", "neutral", "negative")
PURPOSES = ("buy", "rent", "invest")

#: the contact fields that make up a buyer's requirement, by their short name
REQUIREMENT_FIELDS = {
    "budget_min": "realestate__budget_min",
    "budget_max": "realestate__budget_max",
    "districts": "realestate__districts",
    "rooms_min": "realestate__rooms_min",
    "purpose": "realestate__purpose",
}

PROPERTY_OBJECT = ObjectDef(
    name=PROPERTY, label="Property", plural="realestate__properties", service="contacts",
    title_field="title", description="A property an agency lists for sale.",
    fields=SYSTEM_FIELDS + (
        FieldDef("title", T.TEXT, "Title", required=True, min_length=1, max_length=255),
        FieldDef("address", T.TEXT, "Address", max_length=500),
        FieldDef("district", T.PICKLIST, "District", choices=DISTRICTS, indexed=True),
        FieldDef("type", T.PICKLIST, "Type", choices=PROPERTY_TYPES),
        FieldDef("area_m2", T.DECIMAL, "Area (m²)", help_text="Living area, or plot area for land."),
        FieldDef("rooms", T.INTEGER, "Rooms", min_value=0, max_value=1000),
        FieldDef("price", T.DECIMAL, "Asking price", required=True, indexed=True,
                 help_text="In the agency's currency."),
        FieldDef("commission_rate", T.PERCENT, "Commission rate (%)", default=3, min_value=0, max_value=100),
        FieldDef("commission", T.FORMULA, "Commission", formula="price * commission_rate / 100",
                 formula_type="decimal", read_only=True),
        FieldDef("status", T.PICKLIST, "Status", choices=STATUSES, default="available",
                 help_text="Moved by the listing process (POST …/{id}/transition)."),
        FieldDef("listing_agent", T.TEXT, "Listing agent", max_length=64, help_text="A user id."),
        FieldDef("positive_viewings", T.INTEGER, "Positive viewings", read_only=True, default=0,
                 help_text="Kept current by the plugin from the property's viewings."),
        FieldDef("description", T.LONG_TEXT, "Description", max_length=20000),
    ),
)

VIEWING_OBJECT = ObjectDef(
    name=VIEWING, label="Viewing", plural="realestate__viewings", service="contacts",
    title_field="scheduled_at", description="A prospective buyer visiting a property.",
    fields=SYSTEM_FIELDS + (
        FieldDef("property_id", T.LOOKUP, "Property", lookup=PROPERTY, required=True, indexed=True),
        FieldDef("contact_id", T.LOOKUP, "Contact", lookup=CONTACT, required=True, indexed=True),
        FieldDef("agent", T.TEXT, "Agent", max_length=64, help_text="A user id."),
        FieldDef("scheduled_at", T.DATETIME, "Scheduled at", required=True),
        FieldDef("outcome", T.PICKLIST, "Outcome", choices=OUTCOMES, default="pending"),
        FieldDef("feedback", T.LONG_TEXT, "Feedback", max_length=20000),
    ),
)

CONTACT_FIELDS = (
    FieldDef("realestate__budget_min", T.DECIMAL, "Budget from", min_value=0),
    FieldDef("realestate__budget_max", T.DECIMAL, "Budget up to", min_value=0),
    FieldDef("realestate__districts", T.MULTI_PICKLIST, "Wanted districts", choices=DISTRICTS),
    FieldDef("realestate__rooms_min", T.INTEGER, "Rooms at least", min_value=0, max_value=1000),
    FieldDef("realestate__purpose", T.PICKLIST, "Purpose", choices=PURPOSES),
)


def objects() -> list[ObjectDef]:
    """The plugin's own objects."""
    return [PROPERTY_OBJECT, VIEWING_OBJECT]


def fields() -> dict[str, list[FieldDef]]:
    """Fields the plugin adds to objects it extends."""
    return {CONTACT: list(CONTACT_FIELDS)}
