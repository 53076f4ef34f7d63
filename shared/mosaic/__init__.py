"""Mosaic CRM platform library: config, tenancy, data, metadata, filters, events."""

__version__ = "0.2.0"
