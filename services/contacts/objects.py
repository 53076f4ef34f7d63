"""The core objects the contacts service hosts, declared as metadata.

Everything the platform does with a record — validation, filters, the API, OpenAPI, events —
comes from these definitions; the service adds only the behaviour special to each object.
"""
from __future__ import annotations

from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.metadata.registry import ObjectRegistry
from mosaic_contacts.models import Account, Activity, Contact, Relationship

T = FieldType
LIFECYCLE = ("subscriber", "lead", "prospect", "customer", "loyal", "churned")
DECISION_ROLES = ("decision_maker", "economic_buyer", "influencer", "user", "gatekeeper", "champion")
ACTIVITY_TYPES = ("call", "email", "meeting", "visit", "chat", "note", "task")
TASK_STATUSES = ("open", "done", "cancelled")
SOURCES = ("web", "referral", "event", "import", "partner", "advertising", "inbound_call", "other")
SIZES = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")


def col(name: str, type_: FieldType, label: str, **kw) -> FieldDef:
    """A core field stored in a real column."""
    return FieldDef(name, type_, label, storage="column", **kw)


def _address(prefix_label: str = "") -> tuple[FieldDef, ...]:
    return (
        col("address_street", T.TEXT, f"{prefix_label}Street", max_length=255),
        col("address_city", T.TEXT, f"{prefix_label}City", max_length=128),
        col("address_province", T.TEXT, f"{prefix_label}Province / state", max_length=128),
        col("address_country", T.TEXT, f"{prefix_label}Country", max_length=64),
        col("address_postal_code", T.TEXT, f"{prefix_label}Postal code", max_length=32),
    )


ACCOUNT = ObjectDef(
    name="account", label="Account", plural="accounts", service="contacts", model=Account,
    title_field="name", actions=("merge",), description="A company or organisation.",
    views=(("timeline", "timeline"), ("duplicates", "find_duplicates")),
    fields=SYSTEM_FIELDS + (
        col("name", T.TEXT, "Name", required=True, min_length=1, max_length=255),
        col("industry", T.TEXT, "Industry", max_length=64),
        col("size", T.PICKLIST, "Size (employees)", choices=SIZES),
        col("region", T.TEXT, "Region", max_length=64),
        col("website", T.URL, "Website", max_length=500),
        col("phone", T.PHONE, "Phone"),
    ) + _address(),
)

CONTACT = ObjectDef(
    name="contact", label="Contact", plural="contacts", service="contacts", model=Contact,
    title_field="last_name", actions=("merge",), description="A person: customer, lead or subscriber.",
    views=(("timeline", "timeline"), ("duplicates", "find_duplicates"), ("360", "view_360")),
    fields=SYSTEM_FIELDS + (
        col("first_name", T.TEXT, "First name", max_length=128),
        col("last_name", T.TEXT, "Last name", max_length=128),
        col("title", T.TEXT, "Job title", max_length=128),
        col("email", T.EMAIL, "Email", max_length=320),
        col("phone", T.PHONE, "Phone"),
        col("mobile", T.PHONE, "Mobile"),
        *_address(),
        col("birthday", T.DATE, "Birthday"),
        col("source", T.PICKLIST, "Source", choices=SOURCES),
        col("tags", T.MULTI_PICKLIST, "Tags", help_text="Free-form labels."),
        col("email_consent", T.BOOLEAN, "Email consent", default=False),
        col("sms_consent", T.BOOLEAN, "SMS consent", default=False),
        col("lifecycle_stage", T.PICKLIST, "Lifecycle stage", choices=LIFECYCLE, default="subscriber"),
        col("lifecycle_changed_at", T.DATETIME, "Lifecycle stage changed at", read_only=True),
        col("account_id", T.LOOKUP, "Account", lookup="account"),
        col("company_name", T.TEXT, "Company name", max_length=255,
            help_text="The company as given (import, web form) when no account is linked."),
    ),
)

RELATIONSHIP = ObjectDef(
    name="relationship", label="Relationship", plural="relationships", service="contacts",
    model=Relationship, title_field="role", description="A contact's place in an account's decision chain.",
    fields=SYSTEM_FIELDS + (
        col("contact_id", T.LOOKUP, "Contact", lookup="contact", required=True),
        col("account_id", T.LOOKUP, "Account", lookup="account", required=True),
        col("role", T.PICKLIST, "Decision-chain role", choices=DECISION_ROLES),
        col("job_title", T.TEXT, "Job title at the account", max_length=128),
        col("is_primary", T.BOOLEAN, "Primary contact", default=False),
        col("notes", T.LONG_TEXT, "Notes", max_length=10000),
    ),
)

ACTIVITY = ObjectDef(
    name="activity", label="Activity", plural="activities", service="contacts", model=Activity,
    title_field="subject", description="A call, email, meeting, visit, chat, note or task.",
    fields=SYSTEM_FIELDS + (
        col("type", T.PICKLIST, "Type", choices=ACTIVITY_TYPES, required=True),
        col("subject", T.TEXT, "Subject", max_length=255),
        col("body", T.LONG_TEXT, "Body", max_length=100000),
        col("channel", T.TEXT, "Channel", max_length=32),
        col("direction", T.PICKLIST, "Direction", choices=("inbound", "outbound")),
        col("occurred_at", T.DATETIME, "Occurred at"),
        col("outcome", T.TEXT, "Outcome", max_length=64),
        col("contact_id", T.LOOKUP, "Contact", lookup="contact"),
        col("account_id", T.LOOKUP, "Account", lookup="account"),
        col("related_object", T.TEXT, "Related object", max_length=64,
            help_text="Another record this activity is about, e.g. opportunity (any service)."),
        col("related_id", T.TEXT, "Related record id", max_length=64),
        col("due_at", T.DATETIME, "Due at", help_text="A task's deadline."),
        col("status", T.PICKLIST, "Task status", choices=TASK_STATUSES),
    ),
)


CORE_OBJECTS = (ACCOUNT, CONTACT, RELATIONSHIP, ACTIVITY)


def build_registry(host=None) -> ObjectRegistry:
    """The contacts service's in-code objects: its core objects and every loaded plugin's
    objects hosted here, with the plugins' fields (all declared through ``mosaic_objects`` /
    ``mosaic_fields``; each tenant sees those of the plugins it has enabled)."""
    from mosaic.plugins import get_host

    return ObjectRegistry("contacts", (host or get_host()).objects_for("contacts"))
