"""Tests of audiotok.formats.esf."""
