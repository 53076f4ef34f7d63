"""Mosaic CRM plugin for real-estate agencies: properties and their listing process, viewings,
buyer requirements on contacts, and matching buyers with properties.

The entry point is :mod:`mosaic_realestate.plugin` (``MANIFEST`` and the hook implementations).
"""
