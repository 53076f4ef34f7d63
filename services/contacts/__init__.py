"""Mosaic package."""
