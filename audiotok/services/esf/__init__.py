"""``audiotok esf``: EnCodec codes with ESF sidecars (encode, sidecars, producers, audit, inspect)."""
