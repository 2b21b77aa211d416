"""Backbone registry (filled in below)."""
