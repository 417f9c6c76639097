"""Routing rules: pure values and functions (no I/O, no clock)."""
