"""The real-estate plugin's entry point: its manifest and its hook implementations.

Each hook delegates to the module of its concept (objects, logic, reactions, routes, seed); this
module only says which hooks the plugin implements.
"""
from __future__ import annotations

from mosaic.plugins import Manifest, hookimpl

from mosaic_realestate import logic, objects, reactions, routes, seed
from mosaic_realestate.objects import CONTACT, PROPERTY, VIEWING

MANIFEST = Manifest(
    name="realestate", version="1.0.0", core=">=0.2,<1", label="Real estate",
    description="Properties with a listing process, viewings, buyer requirements on contacts, "
                "and matching buyers with properties.",
    modules=("contacts",), extends=("contact",), author="Mosaic CRM",
    events=("realestate__property.created", "realestate__viewing.deleted"),
)


@hookimpl
def mosaic_objects():
    """Properties and viewings (hosted by the contacts service)."""
    return objects.objects()


@hookimpl
def mosaic_fields():
    """Buyer-requirement fields on contacts."""
    return objects.fields()


@hookimpl
def mosaic_processes():
    """The listing process of properties."""
    return logic.processes()


@hookimpl
def mosaic_automation_rules():
    """Follow-up tasks along the listing process."""
    return logic.automation_rules()


@hookimpl
def mosaic_validation_rules():
    """Positive price and area."""
    return logic.validation_rules()


@hookimpl
def mosaic_analytics_metrics():
    """Listings by status, prices by district, pipeline value, commission."""
    return logic.metrics()


@hookimpl
def mosaic_validate_record(store, object_name, values, before):
    """No new viewings of sold properties; no budget whose lower bound exceeds its upper one."""
    if object_name == VIEWING:
        return reactions.check_viewing(store, values, before)
    if object_name == CONTACT:
        return reactions.check_budget(values)
    return None


@hookimpl
def mosaic_record_saved(store, object_name, record, before, action):
    """Keep the property's positive-viewing count current."""
    if object_name == VIEWING:
        reactions.viewing_saved(store, record, before)


@hookimpl
def mosaic_handle_event(store, event, service):
    """New listings: notify the agents of fitting buyers; deleted viewings: recount."""
    if service == "contacts" and event.get("object") in (PROPERTY, VIEWING):
        reactions.handle_event(store, event)


@hookimpl
def mosaic_gateway_routes():
    """``GET /api/v1/x/realestate/contacts/<id>/matches``."""
    return routes.blueprint()


@hookimpl
def mosaic_seed_demo(client):
    """Six properties, three buyers, four viewings."""
    seed.seed(client)
