"""Conformance tests: every registered codec family and token sink against its contract."""
