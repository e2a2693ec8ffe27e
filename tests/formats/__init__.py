"""Tests of audiotok.formats."""
