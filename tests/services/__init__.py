"""Tests of audiotok.services."""
