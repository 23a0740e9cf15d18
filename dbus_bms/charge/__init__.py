"""Charge control: pure functions and small state machines, no clock, no I/O."""
