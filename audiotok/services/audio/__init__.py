"""``audiotok audio``: audio preparation (normalize)."""
