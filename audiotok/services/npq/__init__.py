"""``audiotok npq``: DAC tokens in .npq files (encode, decode, inspect, convert)."""
