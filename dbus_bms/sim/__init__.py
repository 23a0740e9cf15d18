"""Simulators: BMS device models, a private D-Bus and the Victron services dbus-bms talks to."""
