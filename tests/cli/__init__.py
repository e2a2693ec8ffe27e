"""Tests of audiotok.cli."""
