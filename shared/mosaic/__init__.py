"""Mosaic CRM platform library: config, tenancy, data, metadata, filters, events."""

__version__ = "0.1.0"
