"""Tests of audiotok.formats.ecdc."""
