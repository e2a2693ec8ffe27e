"""Engines execute a runner plan's items; every engine gives the same records in the same order."""
