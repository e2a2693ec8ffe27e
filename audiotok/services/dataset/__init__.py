"""``audiotok dataset``: token files (+ sidecars) to Hugging Face datasets (build, inspect, verify)."""
